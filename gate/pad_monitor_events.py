"""A door's bona fide monitor scores (`pad calibrate-door`), read through the audit chain's verification.

The scores are read from the rows the audit chain's verification vouched for (`storage.verified_events`, the
walk `facegate audit verify` makes), and any break of the chain refuses: someone who can write the database
but lacks the master key cannot move the threshold by editing, forging, copying or deleting monitor events.
The whole chain must hold, not only the events used: a deleted event leaves no row to check, and the walk
cannot vouch for anything after its first break. Since the log is append-only, a break would refuse for good;
given a signed checkpoint of the chain (the master key's signature, its link still in the log), the walk
starts after it instead and vouches for the events after it only: a break up to it no longer refuses, one
after it still does, and the events up to it are not used (`facegate audit verify --since-checkpoint`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from gate.decision import MATCH
from gate.errors import DoorCalibrationRefused
from gate.pad import TRACK_RULE_SHA256, ScoreKind
from recognition import TRACK_RULE_BASIS
from storage import (
    AuditEventPublic,
    ChainBreak,
    ChainReport,
    Checkpoint,
    CheckpointInvalid,
    CheckpointMismatch,
    Cipher,
    Decision,
    Engine,
    EventFilter,
    session_scope,
    visit_verified_events,
)

Colour = Literal["colour", "grey"]
COLOURS: tuple[Colour, ...] = ("colour", "grey")


@dataclass(frozen=True, slots=True)
class MonitorScore:
    """One monitor event granted by match: its time, PAD weights, deciding score, colour and score kind
    (with the deciding track rule's hash, None when passive or unknown), and the ids that find its footage
    (event, camera source as audited, track, person: never a name)."""

    occurred_at: datetime
    weights_hash: str | None
    score: float
    colour: Colour
    score_kind: ScoreKind
    track_rule_sha256: str | None
    event_id: int
    source: str
    track_id: int | None
    person_id: int | None


def monitor_scores(
    engine: Engine,
    *,
    keyring: Cipher,
    door: str,
    since: datetime | None,
    until: datetime | None,
    checkpoint: Checkpoint | None = None,
    source: str | None = None,
) -> tuple[list[MonitorScore], Counter[str], ChainReport]:
    """The door's events granted by match under policy `monitor` with a PAD score in [since, until), read
    from the rows the audit chain verified (after `checkpoint` only, when given), a count of the other
    granted events by why they were left out, and the verification's report. With `source` (a camera's
    source as audited), only that camera's events are read or counted; the whole chain is still verified.

    Raises:
        DoorCalibrationRefused: `checkpoint` does not hold (forged, not the master key's, its link gone from
            the log), or the audit chain (after it) does not verify, naming its first bad event.
        DatabaseUnavailable: the database fails.
    """
    kept: list[MonitorScore] = []
    skipped: Counter[str] = Counter()

    def take(event: AuditEventPublic) -> None:  # one event at a time: only the scores are held
        if source is not None and event.source != source:
            return
        score = _monitor_score(event)
        if isinstance(score, str):
            skipped[score] += 1
        else:
            kept.append(score)

    try:
        with session_scope(engine) as session:
            report = visit_verified_events(
                session,
                keyring,
                take,
                where=EventFilter(door=door, decision=Decision.granted, since=since, until=until),
                checkpoint=checkpoint,
            )
    except (CheckpointInvalid, CheckpointMismatch) as exc:
        raise DoorCalibrationRefused(
            f"door {door}: the checkpoint cannot vouch for the events after it: {exc}; nothing calibrated"
        ) from exc
    if not report.is_ok:
        raise DoorCalibrationRefused(_chain_refusal(door, report))
    return kept, skipped, report


def _monitor_score(event: AuditEventPublic) -> MonitorScore | str:
    """The granted event's bona fide monitor score, or why it is none."""
    cues, score = _cues(event.pad_cues), event.pad_score
    why = _left_out(event.reason, score, cues)
    if why is not None or score is None:
        return why or "no PAD score"
    kind: ScoreKind = "track_rule" if str(cues.get("basis", "")).startswith(TRACK_RULE_BASIS) else "passive"
    rule = cues.get(TRACK_RULE_SHA256) if kind == "track_rule" else None
    return MonitorScore(
        occurred_at=event.occurred_at,
        weights_hash=event.pad_weights_hash,
        score=score,
        colour="grey" if cues["colour"] == "grey" else "colour",
        score_kind=kind,
        track_rule_sha256=rule if isinstance(rule, str) else None,
        event_id=event.id,
        source=event.source,
        track_id=event.track_id,
        person_id=event.person_id,
    )


def after_checkpoint(report: ChainReport) -> str:
    """' after checkpointed event S' when the walk began at a checkpoint, else ''."""
    return f" after checkpointed event {report.start_sequence}" if report.start_sequence else ""


def _chain_refusal(door: str, report: ChainReport) -> str:
    """The one line that says why the door's events cannot be trusted, naming the first bad event."""
    named = report.broken_event_id is not None and report.reason is not ChainBreak.deleted
    event = f"event id {report.broken_event_id}, " if named else ""  # a deleted one has no row
    after = after_checkpoint(report)
    verify = "`facegate audit verify --since-checkpoint FILE`" if after else "`facegate audit verify`"
    return (
        f"door {door}: the audit chain{after} does not verify, so no monitor event can be trusted to set a "
        f"threshold: first bad event: {event}sequence {report.broken_sequence} ({report.reason}): "
        f"{report.detail}; {report.events_checked} events verified{after} before it ({verify} "
        "says the same); find out who wrote the database before calibrating"
    )


def _cues(cues_json: str | None) -> dict[str, object]:
    """An event's PAD cues, or {} when it has none or they do not parse (written before migration 0012, when
    the gate cut them at 500 characters)."""
    if not cues_json:
        return {}
    try:
        cues = json.loads(cues_json)
    except json.JSONDecodeError:
        return {"unreadable": True}
    return cues if isinstance(cues, dict) else {"unreadable": True}


def _left_out(reason: str, score: float | None, cues: dict[str, object]) -> str | None:
    """Why a granted event is no bona fide monitor score, or None when it is one."""
    if reason != MATCH:
        return f"granted by {reason}"
    if not cues:
        return "PAD off"
    if cues.get("unreadable"):
        return "PAD cues unreadable"
    if cues.get("policy") != "monitor":
        return f"policy {cues.get('policy')}"
    if score is None or cues.get("colour") not in COLOURS:
        return "no PAD score"
    return None
