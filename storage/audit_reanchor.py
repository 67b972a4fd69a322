"""Re-anchoring the audit chain after an investigated break: a signed checkpoint that acknowledges it.

The log is append-only, so a break (an edited row, an old backup restored, ...) stays in it for good, and
no plain checkpoint can be signed after it (`export_checkpoint` refuses). `reanchor_checkpoint` walks the
chain past each break, from the link the next stored event names, and requires the operator to name
exactly those breaks; it then appends an `audit.break_acknowledged` event and signs a v2 checkpoint of
that event listing them. The walk from the genesis still stops at the first break; the walk from the new
checkpoint (`verify_chain_since`) verifies what comes after it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import Session, col, select

from storage.audit import append_event
from storage.audit_chain import GENESIS_HASH, HEAD_ID, ChainReport, verify_chain
from storage.audit_checkpoint import AcknowledgedBreak, Checkpoint, sign_checkpoint
from storage.errors import BreakNotAcknowledged, ChainBroken, CheckpointMismatch
from storage.models import AuditChainHead, AuditEvent, AuditEventCreate, Decision
from storage.protocols import Cipher

BREAK_ACKNOWLEDGED: Final = "audit.break_acknowledged"
"""The `reason` of the event that records a re-anchoring."""
AUDIT_DOOR: Final = "audit"
"""The `door` of that event: the audit log itself, no door of a building."""
MAX_BREAKS = 20
"""More breaks are no incident to acknowledge one by one: a master key missing from the keyring breaks
every event chained under it (list the key instead)."""
MAX_SOURCE_CHARS = 500


@dataclass(frozen=True)
class _PastBreaks:
    """The chain walked past its breaks: each break in chain order, and where the last stretch began."""

    breaks: tuple[ChainReport, ...]
    resume: tuple[int, str]


def reanchor_checkpoint(
    session: Session,
    keyring: Cipher,
    *,
    acknowledged: Collection[int],
    acknowledged_by: str,
    note: str,
    now: datetime,
) -> Checkpoint:
    """Sign a checkpoint of the chain's head despite the breaks before it, once the operator names them.

    The events after the last break must verify among themselves (from the link the first of them names
    as its predecessor) up to the head. In the caller's transaction, appends one event (reason
    `audit.break_acknowledged`, door `audit`; its source names the breaks, `acknowledged_by` and `note`)
    and signs a v2 checkpoint of it listing the breaks. Nothing hides them: `verify_chain` still stops at
    the first. When it raises, the caller's transaction rolls the event back.

    Args:
        acknowledged: the sequence of every break, the first as `facegate audit verify` names it.
        acknowledged_by: who re-anchors (an operator's login name).
        note: what the investigation found (a ticket), kept in the event.
        now: the event's and the checkpoint's time, timezone-aware.

    Raises:
        BreakNotAcknowledged: the chain is intact, or `acknowledged` is not exactly its breaks.
        ChainBroken: a break the walk cannot get past (the head row lost, an event beyond the head, more
            than MAX_BREAKS), or the chain broke after the last break while the event was appended.
        DatabaseUnavailable: the database fails (from the caller's session scope).
    """
    walked = _walk_past_breaks(session, keyring)
    breaks = _acknowledged(walked.breaks, acknowledged)
    event = append_event(
        session, keyring, _acknowledgement(breaks, acknowledged_by=acknowledged_by, note=note, now=now)
    )
    tail = verify_chain(session, keyring, start=walked.resume)
    if not tail.is_ok:
        raise ChainBroken(f"the audit chain broke while re-anchoring, nothing was signed: {tail.summary()}")
    return sign_checkpoint(
        keyring,
        sequence=event.sequence,
        link_hash=event.link_hash,
        created_at=now,
        acknowledged_breaks=breaks,
    )


def check_acknowledged_breaks(session: Session, keyring: Cipher, checkpoint: Checkpoint) -> None:
    """The chain up to a v2 checkpoint still breaks exactly where, and how, the checkpoint acknowledges.

    A walk from the checkpoint (`verify_chain_since`) sees nothing before it, and the walk from the genesis
    stops at the first break: an event edited since the re-anchoring, before the first acknowledged break or
    between two, showed nowhere. Here the chain is walked past its breaks as re-anchoring walks it; a break
    after the checkpoint is left to the walk from it.

    Raises:
        CheckpointMismatch: the breaks up to the checkpoint differ from those it acknowledges.
        ChainBroken: a break the walk cannot get past (as `reanchor_checkpoint`).
    """
    walked = _by_sequence(_walk_past_breaks(session, keyring).breaks)
    found = {sequence: seen for sequence, seen in walked.items() if sequence <= checkpoint.sequence}
    if tuple(found.values()) != checkpoint.acknowledged_breaks:
        now = f"at {', '.join(map(str, found.values()))}" if found else "nowhere"
        raise CheckpointMismatch(
            f"the chain up to checkpointed event {checkpoint.sequence} now breaks {now}, but the checkpoint "
            f"was signed {checkpoint.acknowledges()}: events before it were changed since the re-anchoring"
        )


def _walk_past_breaks(session: Session, keyring: Cipher) -> _PastBreaks:
    """Walk from the genesis; after each break, walk on from `_resume_point`, until a stretch holds."""
    start = (0, GENESIS_HASH)
    starts = {start}
    breaks: list[ChainReport] = []
    report = verify_chain(session, keyring)
    while not report.is_ok:
        breaks.append(report)
        if len(breaks) > MAX_BREAKS:
            raise ChainBroken(
                f"the audit chain breaks more than {MAX_BREAKS} times (is a master key missing from the "
                f"keyring?); first {breaks[0].summary()}"
            )
        resume = _resume_point(session, report)
        # A walk that would not move forward (back before its start, or to a start already tried) is stuck.
        if resume is None or resume in starts or resume[0] < start[0]:
            found = "; ".join(f"{b.broken_sequence} ({b.reason}: {b.detail})" for b in breaks)
            raise ChainBroken(f"cannot re-anchor past the audit chain's breaks: {found}")
        start = resume
        starts.add(start)
        report = verify_chain(session, keyring, start=start)
    return _PastBreaks(tuple(breaks), start)


def _resume_point(session: Session, report: ChainReport) -> tuple[int, str] | None:
    """(sequence, link) to walk on from after `report`'s break; None: nowhere (the head row is gone).

    After the event found there when it follows the walk but its own link does not verify (edited, forged,
    chained under a key not in the keyring); before it, from the link it names as its predecessor, when it
    does not follow (events deleted, reordered, inserted); from the head when there is no event (the tail
    truncated, the head replaced).
    """
    if report.broken_event_id is None:
        head = session.get(AuditChainHead, HEAD_ID)
        return None if head is None else (head.sequence, head.link_hash)
    # The chain columns alone: the event's other values may be ones that cannot be read back (edited).
    links = select(col(AuditEvent.sequence), col(AuditEvent.prev_hash), col(AuditEvent.link_hash))
    event = session.exec(links.where(col(AuditEvent.id) == report.broken_event_id)).first()
    if event is None:
        return None
    sequence, prev_hash, link_hash = event
    if sequence == report.last_sequence + 1 and prev_hash == report.last_link_hash:
        return sequence, link_hash
    return sequence - 1, prev_hash


def _acknowledged(
    breaks: Sequence[ChainReport], acknowledged: Collection[int]
) -> tuple[AcknowledgedBreak, ...]:
    """The breaks, one per sequence, once `acknowledged` names exactly their sequences, the first included."""
    found = _by_sequence(breaks)
    if not found:
        raise BreakNotAcknowledged("the audit chain is intact: there is no break to acknowledge")
    named = set(acknowledged)
    first = breaks[0]
    every = ", ".join(str(sequence) for sequence in found)
    if min(named, default=None) != first.broken_sequence:
        raise BreakNotAcknowledged(
            f"the audit chain first breaks at sequence {first.broken_sequence} ({first.reason}: "
            f"{first.detail}), not at {min(named, default='none')}"
        )
    if named - found.keys():
        raise BreakNotAcknowledged(
            f"the audit chain does not break at {', '.join(map(str, sorted(named - found.keys())))}; "
            f"it breaks at {every}"
        )
    for report in breaks:
        if report.broken_sequence not in named:
            raise BreakNotAcknowledged(
                f"the audit chain also breaks after sequence {first.broken_sequence}: at "
                f"{report.broken_sequence} ({report.reason}: {report.detail}); investigate it too, then "
                f"acknowledge every break: {every}"
            )
    return tuple(found.values())


def _by_sequence(breaks: Sequence[ChainReport]) -> dict[int, AcknowledgedBreak]:
    """Each break as a checkpoint acknowledges it, in chain order, once per sequence."""
    found: dict[int, AcknowledgedBreak] = {}
    for report in breaks:
        assert report.broken_sequence is not None and report.reason is not None
        found.setdefault(
            report.broken_sequence, AcknowledgedBreak(sequence=report.broken_sequence, reason=report.reason)
        )
    return found


def _acknowledgement(
    breaks: tuple[AcknowledgedBreak, ...], *, acknowledged_by: str, note: str, now: datetime
) -> AuditEventCreate:
    """The event that records the re-anchoring in the chain itself, for good."""
    source = f"breaks at {', '.join(map(str, breaks))} acknowledged by {acknowledged_by}: {note}"
    if len(source) > MAX_SOURCE_CHARS:
        source = source[: MAX_SOURCE_CHARS - 1] + "…"
    return AuditEventCreate(
        door=AUDIT_DOOR,
        source=source,
        decision=Decision.recorded,
        reason=BREAK_ACKNOWLEDGED,
        model_id="-",
        occurred_at=now,
    )
