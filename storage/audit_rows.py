"""Audit rows whose stored values are not what FaceGate writes, which the chain's verification names as
edits: a value that cannot be read back, and on SQLite a time stored as other text (storage/audit_chain.py);
the event lists and the export name the first of the former as an `UnreadableEvent` (storage/audit.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, not_, or_
from sqlmodel import Session, col, func, select

from storage.errors import UnreadableEvent
from storage.models import AuditEvent, AuditEventPublic, Decision
from storage.timeutil import as_utc


@dataclass(frozen=True)
class Unreadable:
    """A row whose stored values cannot be read back as an event: a value FaceGate never writes."""

    id: int | None
    sequence: int
    detail: str


UNREADABLE_VALUE_ERRORS = (LookupError, ValueError, TypeError)
"""What reading a stored value raises when it is none FaceGate writes (SQLite keeps any value in any column:
a decision 'GRANTED' is a LookupError, a time 'garbage' a ValueError, a time 20300102 a TypeError)."""


_D = "[0-9]"
SQLITE_TIME_SHAPE = f"{_D * 4}-{_D * 2}-{_D * 2} {_D * 2}:{_D * 2}:{_D * 2}.{_D * 6}"
"""A time as FaceGate stores it in SQLite (SQLAlchemy's text form, microseconds always written), as a GLOB."""


def with_misstored_times(session: Session, batch: Sequence[AuditEvent]) -> Iterator[AuditEvent | Unreadable]:
    """`batch`, but on SQLite an event whose time is stored as other text than FaceGate writes is an
    `Unreadable`: the HMAC covers the instant it reads back as ('2030-01-02T08:00:05' is the same instant as
    '2030-01-02 08:00:05.000000'), while the time filters compare the stored text, so such an edit would
    hide the event from them and leave the chain intact."""
    if not batch or session.get_bind().dialect.name != "sqlite":
        yield from batch
        return
    stored_at = cast(col(AuditEvent.occurred_at), String)
    misstored = select(col(AuditEvent.id), stored_at).where(
        col(AuditEvent.sequence).between(batch[0].sequence, batch[-1].sequence),
        or_(
            func.typeof(col(AuditEvent.occurred_at)) != "text",
            not_(stored_at.op("GLOB", is_comparison=True)(SQLITE_TIME_SHAPE)),
        ),
    )
    found = dict(session.exec(misstored).all())
    for event in batch:
        if event.id not in found:
            yield event
            continue
        written = as_utc(event.occurred_at).strftime("%Y-%m-%d %H:%M:%S.%f")
        detail = (
            f"its occurred_at is stored as {found[event.id]!r}, not as FaceGate writes that time "
            f"({written!r}): time filters compare the stored text and would miss it; edited outside FaceGate"
        )
        yield Unreadable(id=event.id, sequence=event.sequence, detail=detail)


MAX_SUSPECTS = 100
"""Rows `refuse_unreadable` reads back one by one: the first this many its scan suspects, newest first."""


def _stored_unlike_facegate() -> ColumnElement[bool]:
    """On SQLite: a row whose decision or time is stored as FaceGate never writes it, the only columns of a
    public event whose reading can fail there (the others have no result processor: an Integer, Float or
    String column gives back what it holds). A time in FaceGate's shape whose date or time does not exist
    is one too: '2030-02-30' or hour 24, which SQLite's julianday moves on and Python refuses, and year 0."""
    stored_at = cast(col(AuditEvent.occurred_at), String)
    whole_s = func.substr(stored_at, 1, 19)  # a fraction would be rounded to milliseconds
    return or_(
        cast(col(AuditEvent.decision), String).not_in([decision.name for decision in Decision]),
        func.typeof(col(AuditEvent.occurred_at)) != "text",
        not_(stored_at.op("GLOB", is_comparison=True)(SQLITE_TIME_SHAPE)),
        func.strftime("%Y-%m-%d %H:%M:%S", func.julianday(whole_s)).is_distinct_from(whole_s),
        func.substr(stored_at, 1, 4) == "0000",
    )


def refuse_unreadable(session: Session, conditions: Sequence[ColumnElement[bool]]) -> None:
    """Check every event of `conditions` before a stream of them starts, so that it is refused rather than
    cut off after its first batches: nothing to do on PostgreSQL (its column types refuse what FaceGate
    never writes); on SQLite one scan in the database for rows stored unlike FaceGate writes them (about
    a tenth of an export's CPU time), then the first MAX_SUSPECTS of them read back one by one (a time
    stored as other text can still read back: no reason to refuse). An event edited after the check, or
    behind more suspects, still fails the stream where it lies.

    Raises:
        UnreadableEvent: the newest such event that cannot be read back as a public event.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    suspects = (
        select(col(AuditEvent.id), col(AuditEvent.sequence))
        .where(*conditions, _stored_unlike_facegate())
        .order_by(col(AuditEvent.sequence).desc())
        .limit(MAX_SUSPECTS)
    )
    unreadable = unreadable_event(session, session.exec(suspects).all())
    if unreadable is not None:
        raise unreadable


def sequence_between(after: int | None, up_to: int | None) -> list[ColumnElement[bool]]:
    """Sequence above `after` and up to `up_to` (None: unbounded)."""
    conditions: list[ColumnElement[bool]] = []
    if after is not None:
        conditions.append(col(AuditEvent.sequence) > after)
    if up_to is not None:
        conditions.append(col(AuditEvent.sequence) <= up_to)
    return conditions


def up_to_the_unreadable(
    session: Session, after: int | None, up_to: int | None, batch_rows: int
) -> Iterator[AuditEvent | Unreadable]:
    """The batch's events one by one, then its first unreadable row, named with the column that holds what
    cannot be read."""
    rows = select(col(AuditEvent.id), col(AuditEvent.sequence)).where(*sequence_between(after, up_to))
    for event_id, sequence in session.exec(rows.order_by(col(AuditEvent.sequence)).limit(batch_rows)).all():
        event = _load_or_unreadable(session, event_id, sequence)
        if isinstance(event, Unreadable):
            yield event
            return
        yield from with_misstored_times(session, [event])


def unreadable_event(session: Session, rows: Sequence[tuple[int | None, int]]) -> UnreadableEvent | None:
    """Why reading a list of events failed (with one of UNREADABLE_VALUE_ERRORS): an `UnreadableEvent`
    naming the first of `rows` (id, sequence: the list's rows, in its order) that cannot be read back as a
    public event, and its column; None when each of them reads back (the error came from elsewhere)."""
    for event_id, sequence in rows:
        found = _load_or_unreadable(session, event_id, sequence, is_public=True)
        if isinstance(found, Unreadable):
            return UnreadableEvent(
                f"the audit event at sequence {sequence} cannot be read: {found.detail}; "
                "`facegate audit verify` (or the console's Integrity page) checks the whole log",
                sequence=sequence,
            )
    return None


def _load_or_unreadable(
    session: Session, event_id: int | None, sequence: int, *, is_public: bool = False
) -> AuditEvent | Unreadable:
    """Row `event_id` (also checked as a public event when `is_public`), or why it cannot be read back."""
    try:
        event = session.exec(select(AuditEvent).where(col(AuditEvent.id) == event_id)).one()
        if is_public:
            AuditEventPublic.model_validate(event)
    except UNREADABLE_VALUE_ERRORS as exc:
        return Unreadable(id=event_id, sequence=sequence, detail=_unreadable_value(session, event_id, exc))
    return event


def _unreadable_value(session: Session, event_id: int | None, error: Exception) -> str:
    """Which column of row `event_id` holds a value that cannot be read back, and why."""
    for column in AuditEvent.__table__.columns:  # type: ignore[attr-defined]
        try:
            session.exec(select(column).where(col(AuditEvent.id) == event_id)).one()
        except UNREADABLE_VALUE_ERRORS as exc:
            return f"its {column.name} holds a value FaceGate never writes ({exc}): edited outside FaceGate"
    return f"a stored value cannot be read back ({error}): edited outside FaceGate"
