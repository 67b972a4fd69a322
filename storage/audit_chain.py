"""The audit log's hash chain: how a link is computed, and verification of the whole chain.

Event n's link is HMAC-SHA256(chain key, canonical JSON of its content, its sequence number n and the
link of event n-1); event 1 follows GENESIS_HASH. The chain key is derived from a master key, whose id
each event stores, so events written before a key rotation still verify while the old key is listed.
Someone who edits the database without the master key cannot recompute links; one who holds it can,
which only a checkpoint kept elsewhere exposes (storage/audit_checkpoint.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from sqlmodel import Session, col, func, select

from storage.audit_rows import (
    UNREADABLE_VALUE_ERRORS,
    Unreadable,
    sequence_between,
    up_to_the_unreadable,
    with_misstored_times,
)
from storage.errors import UnknownKeyId
from storage.models import AuditChainHead, AuditEvent
from storage.protocols import Cipher
from storage.timeutil import as_utc

CHAIN_PURPOSE = "audit-chain/v1"
GENESIS_HASH = "0" * 64
HEAD_ID = 1
VERIFY_BATCH_ROWS = 1000
EXTENDED_FIELDS = (
    "event_uid",
    "weights_hash",
    "margin",
    "quality",
    "rule",
    "pad_model_id",
    "pad_weights_hash",
    "pad_score",
    "pad_threshold",
    "pad_cues",
)


def chain_key(keyring: Cipher, key_id: str) -> bytes:
    """The HMAC key of the chain under master key `key_id`.

    Raises:
        UnknownKeyId: `key_id` is not in the keyring.
    """
    return keyring.derive_subkey(CHAIN_PURPOSE, key_id=key_id)


def compute_link(key: bytes, event: AuditEvent, *, sequence: int, prev_hash: str) -> str:
    """Hex HMAC-SHA256 over the event's content fields, `sequence` and `prev_hash` (64 hex characters)."""
    content = {
        "v": 1,
        "sequence": sequence,
        "occurred_at": as_utc(event.occurred_at).isoformat(),
        "door": event.door,
        "source": event.source,
        "track_id": event.track_id,
        "decision": str(event.decision),
        "reason": event.reason,
        "person_id": event.person_id,
        "score": event.score,
        "threshold": event.threshold,
        "model_id": event.model_id,
        "prev": prev_hash,
    }
    # Fields added after v1 enter the MAC only when set, so events written before them still verify;
    # clearing one later changes the message and breaks the link like any other edit.
    for name in EXTENDED_FIELDS:
        value = getattr(event, name)
        if value is not None:
            content[name] = value
    message = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class ChainBreak(StrEnum):
    """Why verification stopped at an event."""

    edited = "edited"
    deleted = "deleted"
    inserted = "inserted"
    reordered = "reordered"
    unknown_key = "unknown_key"
    head_mismatch = "head_mismatch"


@dataclass(frozen=True)
class ChainReport:
    """Outcome of verify_chain: how far the chain holds and, if it breaks, where first and why."""

    events_checked: int
    last_sequence: int
    """Sequence number of the last event that verified (`start_sequence` when none did)."""
    last_link_hash: str
    reason: ChainBreak | None = None
    broken_sequence: int | None = None
    """Chain position where verification failed (for a deletion: the first missing number)."""
    broken_event_id: int | None = None
    """Row id of the event found at that position, when there is one."""
    detail: str = ""
    start_sequence: int = 0
    """The walk began after this event (a checked checkpoint's), vouching for nothing up to it; 0: whole."""

    @property
    def is_ok(self) -> bool:
        return self.reason is None

    def summary(self) -> str:
        """One line for an operator."""
        scope = f" after checkpointed event {self.start_sequence}" if self.start_sequence else ""
        if self.is_ok:
            return (
                f"audit chain intact{scope}: {self.events_checked} events verified, "
                f"head at {self.last_sequence}"
            )
        return (
            f"audit chain broken at sequence {self.broken_sequence} ({self.reason}): {self.detail}; "
            f"{self.events_checked} events verified{scope} before it"
        )


@dataclass
class _Walk:
    """Verification state: the last event that verified and the chain keys derived so far."""

    keyring: Cipher
    start_sequence: int = 0
    checked: int = 0
    sequence: int = 0
    link_hash: str = GENESIS_HASH
    keys: dict[str, bytes | None] = field(default_factory=dict)

    def key(self, key_id: str) -> bytes | None:
        if key_id not in self.keys:
            try:
                self.keys[key_id] = chain_key(self.keyring, key_id)
            except UnknownKeyId:
                self.keys[key_id] = None
        return self.keys[key_id]

    def ok(self) -> ChainReport:
        return ChainReport(
            events_checked=self.checked,
            last_sequence=self.sequence,
            last_link_hash=self.link_hash,
            start_sequence=self.start_sequence,
        )

    def broken(
        self, reason: ChainBreak, *, sequence: int, event: AuditEvent | Unreadable | None, detail: str
    ) -> ChainReport:
        return ChainReport(
            events_checked=self.checked,
            last_sequence=self.sequence,
            last_link_hash=self.link_hash,
            reason=reason,
            broken_sequence=sequence,
            broken_event_id=None if event is None else event.id,
            detail=detail,
            start_sequence=self.start_sequence,
        )


def verify_chain(
    session: Session,
    keyring: Cipher,
    *,
    batch_rows: int = VERIFY_BATCH_ROWS,
    on_verified: Callable[[AuditEvent], None] | None = None,
    start: tuple[int, str] = (0, GENESIS_HASH),
) -> ChainReport:
    """Recompute every link in sequence order, holding at most `batch_rows` events in memory.

    Finds edited, deleted, inserted and reordered events, events chained under a key the keyring lacks
    (a wrong master key), and a head that disagrees with the last event (a truncated log). Events appended
    while it runs are left for the next run. `on_verified` sees each event once its link verified, as the
    row that was verified: a reader that takes its values from there reads exactly what the chain vouched
    for (trust them only when the report is ok: a later break, e.g. a truncation, can still void them).

    Args:
        start: (sequence, link) of the event the walk starts after, whose link the caller already trusts
            (a checked checkpoint's: `verify_chain_since`); events up to it are neither read nor vouched
            for. Default: the genesis, the whole chain.

    Raises:
        DatabaseUnavailable: the database fails mid-read (from the caller's session scope).
    """
    head = session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    walk = _Walk(keyring, start_sequence=start[0], sequence=start[0], link_hash=start[1])
    up_to = None if head is None else head.sequence
    after = start[0] or None  # the whole chain also reads rows renumbered to 0 or below, to name them
    for event in _events_in_order(session, after=after, up_to=up_to, batch_rows=batch_rows):
        if isinstance(event, Unreadable):
            misplaced = _out_of_sequence(walk, event)
            return misplaced or walk.broken(
                ChainBreak.edited, sequence=event.sequence, event=event, detail=event.detail
            )
        broken = _check(session, walk, event)
        if broken is not None:
            return broken
        walk.checked += 1
        walk.sequence, walk.link_hash = event.sequence, event.link_hash
        if on_verified is not None:
            on_verified(event)
    return _check_head(session, walk, head)


def _events_in_order(
    session: Session, *, after: int | None, up_to: int | None, batch_rows: int
) -> Iterator[AuditEvent | Unreadable]:
    """Events above sequence `after` (all when None) by ascending sequence, one batch in memory at a time
    (keyset pagination). A batch with an unreadable row is read again one row at a time, up to that row,
    which ends the walk as an `Unreadable`."""
    while True:
        query = select(AuditEvent).where(*sequence_between(after, up_to)).order_by(col(AuditEvent.sequence))
        try:
            batch = session.exec(query.limit(batch_rows)).all()
        except UNREADABLE_VALUE_ERRORS:
            yield from up_to_the_unreadable(session, after, up_to, batch_rows)
            return
        yield from with_misstored_times(session, batch)
        if len(batch) < batch_rows:
            return
        after = batch[-1].sequence


def _out_of_sequence(walk: _Walk, event: AuditEvent | Unreadable) -> ChainReport | None:
    """The report of a sequence number that is not the next one (a duplicate, or a gap before it)."""
    expected = walk.sequence + 1
    if event.sequence < expected:
        detail = f"sequence {event.sequence} appears twice"
        return walk.broken(ChainBreak.inserted, sequence=event.sequence, event=event, detail=detail)
    if event.sequence > expected:
        missing = f"{expected}" if event.sequence == expected + 1 else f"{expected} to {event.sequence - 1}"
        detail = f"event {missing} is missing before event {event.sequence}"
        return walk.broken(ChainBreak.deleted, sequence=expected, event=event, detail=detail)
    return None


def _check(session: Session, walk: _Walk, event: AuditEvent) -> ChainReport | None:
    """None when `event` is the authentic next link, else the report naming the break."""
    misplaced = _out_of_sequence(walk, event)
    if misplaced is not None:
        return misplaced
    expected = walk.sequence + 1
    key = walk.key(event.chain_key_id)
    if key is None:
        detail = f"chained under master key {event.chain_key_id}, which is not in the keyring (wrong key?)"
        return walk.broken(ChainBreak.unknown_key, sequence=expected, event=event, detail=detail)
    if event.prev_hash != walk.link_hash:
        return _misplaced(session, walk, event)
    link = compute_link(key, event, sequence=event.sequence, prev_hash=event.prev_hash)
    if hmac.compare_digest(link.encode(), event.link_hash.encode()):
        return None
    if _successor_claims_same_predecessor(session, event):
        detail = "a forged event was slipped in before its successor"
        return walk.broken(ChainBreak.inserted, sequence=expected, event=event, detail=detail)
    detail = "its content does not match its HMAC (edited or forged)"
    return walk.broken(ChainBreak.edited, sequence=expected, event=event, detail=detail)


def _misplaced(session: Session, walk: _Walk, event: AuditEvent) -> ChainReport:
    """The event does not follow the previous one: its own predecessor is elsewhere, or nowhere."""
    predecessor = session.exec(
        select(AuditEvent.sequence).where(col(AuditEvent.link_hash) == event.prev_hash).limit(1)
    ).first()
    if predecessor is not None:
        detail = f"it follows the event now at sequence {predecessor}, not event {walk.sequence}"
        return walk.broken(ChainBreak.reordered, sequence=event.sequence, event=event, detail=detail)
    detail = "it follows an event that is not in the log (forged, or renumbered after a deletion)"
    return walk.broken(ChainBreak.inserted, sequence=event.sequence, event=event, detail=detail)


def _successor_claims_same_predecessor(session: Session, event: AuditEvent) -> bool:
    """True when the next event also claims `event`'s predecessor: `event` was slipped in before it."""
    successor = session.exec(
        select(AuditEvent.prev_hash)
        .where(col(AuditEvent.sequence) > event.sequence)
        .order_by(col(AuditEvent.sequence))
        .limit(1)
    ).first()
    return successor is not None and successor == event.prev_hash


def _beyond_the_head(session: Session, walk: _Walk, head_sequence: int) -> str | None:
    """Why the walk ended below the head when the events it lacks may lie beyond the head (renumbered past
    it: not a truncation); None when no event lies beyond the head. Beyond the head as it is now: an event
    appended since the walk began lies beyond the head it read, and is no part of the break."""
    head_now = session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    above = max(head_sequence, 0 if head_now is None else head_now.sequence)
    beyond = select(func.count(), func.min(AuditEvent.sequence)).where(col(AuditEvent.sequence) > above)
    count, first = session.exec(beyond).one()
    if not count:
        return None
    first_prev = session.exec(select(AuditEvent.prev_hash).where(col(AuditEvent.sequence) == first)).one()
    how = (
        f", which follows event {walk.sequence} (renumbered past the head, not truncated)"
        if first_prev == walk.link_hash
        else " (renumbered or inserted past the head)"
    )
    return (
        f"the head records event {head_sequence} but the log holds none after event {walk.sequence} up to "
        f"it; {count} event{'s lie' if count > 1 else ' lies'} beyond the head from sequence {first}{how}"
    )


def _check_head(session: Session, walk: _Walk, head: AuditChainHead | None) -> ChainReport:
    """After the walk: the head must name the last event, and no event may lie beyond the head."""
    if head is None and walk.sequence:
        return walk.broken(
            ChainBreak.head_mismatch,
            sequence=walk.sequence,
            event=None,
            detail="the chain head is missing",
        )
    head_sequence = 0 if head is None else head.sequence
    head_link = GENESIS_HASH if head is None else head.link_hash
    if walk.sequence > head_sequence and not walk.checked:
        detail = (
            f"the head records event {head_sequence}, before event {walk.sequence} the walk started after"
        )
        return walk.broken(ChainBreak.head_mismatch, sequence=head_sequence, event=None, detail=detail)
    if walk.sequence != head_sequence:
        detail = _beyond_the_head(session, walk, head_sequence) or (
            f"the head records event {head_sequence} but the log ends at event {walk.sequence} (truncated)"
        )
        return walk.broken(ChainBreak.head_mismatch, sequence=walk.sequence + 1, event=None, detail=detail)
    if walk.link_hash != head_link:
        detail = f"the head's link differs from event {head_sequence}'s (replaced)"
        return walk.broken(ChainBreak.head_mismatch, sequence=head_sequence, event=None, detail=detail)
    # Max first, head second: an append commits its event and the head together, so an event committed
    # by a concurrent writer before the max was read is covered by the head read after it.
    last = session.exec(select(func.max(AuditEvent.sequence))).one()
    head_now = session.get(AuditChainHead, HEAD_ID, populate_existing=True)
    head_now_sequence = 0 if head_now is None else head_now.sequence
    if last is None or last <= head_now_sequence:
        return walk.ok()
    beyond = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.sequence) > head_now_sequence)
        .order_by(col(AuditEvent.sequence))
    ).first()
    detail = "an event lies beyond the chain head"
    return walk.broken(ChainBreak.inserted, sequence=head_now_sequence + 1, event=beyond, detail=detail)
