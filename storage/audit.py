"""Append-only audit log: insert and query, nothing else (F4).

Every insert extends the hash chain of storage/audit_chain.py under the chain head's row lock.
"""
# Longer than B3's 400 lines: every query shares EventFilter's SQL and row forms, kept side by side.

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.audit_chain import GENESIS_HASH, HEAD_ID, ChainReport, chain_key, compute_link, verify_chain
from storage.audit_checkpoint import Checkpoint, verify_chain_since
from storage.audit_rows import UNREADABLE_VALUE_ERRORS, refuse_unreadable, unreadable_event
from storage.db import session_scope
from storage.doors import names_of_door_called
from storage.errors import ChainBroken
from storage.models import AuditChainHead, AuditEvent, AuditEventCreate, AuditEventPublic, Decision
from storage.protocols import Cipher
from storage.timeutil import as_utc


def append_event(session: Session, keyring: Cipher, event: AuditEventCreate) -> AuditEvent:
    """Insert one event as the next link of the chain, inside the caller's transaction.

    The chain head stays locked until the caller commits or rolls back, so concurrent writers (gates,
    the API) append one after another and no two events get the same predecessor.

    Raises:
        ChainBroken: the chain head row is missing although events exist (the log was tampered with).
        DatabaseUnavailable: the database fails (from the caller's session scope).
    """
    values = event.model_dump(exclude_none=True)
    # SQLite drops the UTC offset of a bound datetime, so an aware non-UTC time would shift.
    if "occurred_at" in values:
        values["occurred_at"] = as_utc(values["occurred_at"])
    sequence, prev_hash = _claim_next_sequence(session)
    key_id = keyring.primary_key_id
    row = AuditEvent(**values, sequence=sequence, chain_key_id=key_id, prev_hash=prev_hash, link_hash="")
    row.link_hash = compute_link(chain_key(keyring, key_id), row, sequence=sequence, prev_hash=prev_hash)
    session.add(row)
    session.flush()
    session.exec(
        update(AuditChainHead).where(col(AuditChainHead.id) == HEAD_ID).values(link_hash=row.link_hash)
    )
    return row


def _claim_next_sequence(session: Session) -> tuple[int, str]:
    """Lock the chain head and advance it: the new event's sequence number and its predecessor's link.

    A write statement (not SELECT ... FOR UPDATE) so that SQLite, which ignores FOR UPDATE, also takes
    its write lock before the head is read; PostgreSQL locks the row until the transaction ends.
    """
    claim = (
        update(AuditChainHead)
        .where(col(AuditChainHead.id) == HEAD_ID)
        .values(sequence=col(AuditChainHead.sequence) + 1)
        .returning(col(AuditChainHead.sequence), col(AuditChainHead.link_hash))
    )
    claimed = session.exec(claim).first()
    if claimed is None:
        _create_head(session)
        claimed = session.exec(claim).one()
    return int(claimed[0]), str(claimed[1])


def _lock_head(session: Session) -> None:
    """Hold the chain head (every append waits for it) before looking up which events the log holds, so
    a writer's batch sent twice at once (a retry to another API server) is stored once, not refused."""
    lock = (
        update(AuditChainHead)
        .where(col(AuditChainHead.id) == HEAD_ID)
        .values(sequence=AuditChainHead.sequence)
    )
    if session.exec(lock).rowcount == 0:
        _create_head(session)
        session.exec(lock)


def _create_head(session: Session) -> None:
    """The head of an empty log; concurrent first writers create it once (ON CONFLICT DO NOTHING).

    Only the writer whose insert took effect checks for orphaned events: another writer may have
    created the head and committed its first event since this one looked.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created = session.exec(
        dialect.insert(AuditChainHead)
        .values(id=HEAD_ID, sequence=0, link_hash=GENESIS_HASH)
        .on_conflict_do_nothing()
        .returning(col(AuditChainHead.id))
    ).first()
    if created is not None and session.exec(select(AuditEvent.id).limit(1)).first() is not None:
        raise ChainBroken(
            "the audit chain head is missing although events exist: run `facegate audit verify`"
        )


def existing_event_uids(session: Session, uids: Collection[str]) -> set[str]:
    """Which of these writer event ids the log already holds: a redelivered event is then skipped."""
    if not uids:
        return set()
    found = session.exec(select(AuditEvent.event_uid).where(col(AuditEvent.event_uid).in_(list(uids))))
    return {uid for uid in found if uid is not None}


def append_new_events(session: Session, keyring: Cipher, events: Sequence[AuditEventCreate]) -> int:
    """Append, in order, the events whose writer event id the log does not hold yet; how many were new.

    Redelivering a batch (a writer that crashed after the commit, a retried HTTP request) is a no-op
    for the events already stored, so a writer's events land exactly once.
    """
    uids = [e.event_uid for e in events if e.event_uid is not None]
    if uids:
        _lock_head(session)  # the same batch sent to two API servers at once: the second sees the first's
    present = existing_event_uids(session, uids)
    fresh = [event for event in events if event.event_uid is None or event.event_uid not in present]
    for event in fresh:
        append_event(session, keyring, event)
    return len(fresh)


@dataclass(frozen=True, kw_only=True)
class EventFilter:
    """Which audit events a query takes: each field set narrows it, none set takes every event.

    `door` matches the door's events under each name it has had (its events from before a rename too).
    `since` is inclusive and `until` exclusive, instants in any zone.
    """

    door: str | None = None
    person_id: int | None = None
    decision: Decision | None = None
    since: datetime | None = None
    until: datetime | None = None
    event_uid: str | None = None


EVERY_EVENT = EventFilter()
"""The filter that takes every event: the queries' default."""


def _event_conditions(session: Session, where: EventFilter) -> list[ColumnElement[bool]]:
    """`where` as SQL conditions on AuditEvent; the door's names are looked up in `session` now."""
    conditions: list[ColumnElement[bool]] = []
    if where.door is not None:
        conditions.append(col(AuditEvent.door).in_(names_of_door_called(session, where.door)))
    if where.person_id is not None:
        conditions.append(col(AuditEvent.person_id) == where.person_id)
    if where.decision is not None:
        conditions.append(col(AuditEvent.decision) == where.decision)
    if where.event_uid is not None:  # unique: uq_audit_event_event_uid's index
        conditions.append(col(AuditEvent.event_uid) == where.event_uid)
    if where.since is not None:
        conditions.append(col(AuditEvent.occurred_at) >= _utc_bound(where.since))
    if where.until is not None:
        conditions.append(col(AuditEvent.occurred_at) < _utc_bound(where.until))
    return conditions


def _utc_bound(instant: datetime) -> datetime:
    """`instant` in UTC, or the first or last datetime UTC holds for an instant before or after them (a
    filter's 0001-01-01T00:00+01:00 or 9999-12-31T23:59-01:00, which `as_utc` cannot convert): every stored
    time lies between the two, so the filter selects what the instant itself would."""
    try:
        return as_utc(instant)
    except OverflowError:
        is_ahead_of_utc = (instant.utcoffset() or timedelta()) > timedelta()
        return (datetime.min if is_ahead_of_utc else datetime.max).replace(tzinfo=UTC)


def _event_matcher(session: Session, where: EventFilter) -> Callable[[AuditEvent], bool]:
    """`where` as a test of a row already read (the chain's verification walks every row itself): the
    rows that `_event_conditions` selects. The door's names are looked up in `session` now."""
    doors = None if where.door is None else frozenset(names_of_door_called(session, where.door))
    since = None if where.since is None else _utc_bound(where.since)
    until = None if where.until is None else _utc_bound(where.until)

    def matches(row: AuditEvent) -> bool:
        if doors is not None and row.door not in doors:
            return False
        if where.person_id is not None and row.person_id != where.person_id:
            return False
        if where.decision is not None and row.decision != where.decision:
            return False
        if where.event_uid is not None and row.event_uid != where.event_uid:
            return False
        at = as_utc(row.occurred_at)
        return (since is None or at >= since) and (until is None or at < until)

    return matches


def query_events(
    session: Session,
    *,
    where: EventFilter = EVERY_EVENT,
    before_sequence: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEventPublic], int]:
    """One page of events (see `page_events`) and the total matching count (the cursor aside).

    Counting is most of the cost on a large log (a scan of every match): callers that page through
    with the cursor can use `page_events` alone.
    """
    total = count_events(session, where=where)
    events = page_events(session, where=where, before_sequence=before_sequence, offset=offset, limit=limit)
    return events, total


def door_sources(session: Session, *, door: str, since: datetime | None, limit: int = 50) -> list[str]:
    """The sources (cameras) that audited events under the name `door` since then (ever, when `since` is
    None), sorted, at most `limit`."""
    conditions = [col(AuditEvent.door) == door]
    if since is not None:
        conditions.append(col(AuditEvent.occurred_at) >= as_utc(since))
    rows = session.exec(
        select(AuditEvent.source).where(*conditions).distinct().order_by(col(AuditEvent.source)).limit(limit)
    )
    return list(rows.all())


def count_events(session: Session, *, where: EventFilter = EVERY_EVENT, at_most: int | None = None) -> int:
    """How many events match the filter (a scan of every match, or of the first `at_most` + 1).

    With `at_most`, the count stops there: a result above `at_most` means "more than `at_most`", so a
    page that only shows "10,000+" does not scan a million rows.
    """
    conditions = _event_conditions(session, where)
    if at_most is None:
        return int(session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one())
    matches = select(AuditEvent.id).where(*conditions).limit(at_most + 1).subquery()
    return int(session.exec(select(func.count()).select_from(matches)).one())


def page_events(
    session: Session,
    *,
    where: EventFilter = EVERY_EVENT,
    before_sequence: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[AuditEventPublic]:
    """One page of events, newest (highest sequence) first. `until` is exclusive.

    `before_sequence` is the keyset cursor: only events with a lower sequence, so the next page starts
    below the last sequence of this one (an index range scan however deep the page).

    Raises:
        UnreadableEvent: an event of the page holds a value FaceGate never writes (edited in SQLite).
    """
    conditions = _event_conditions(session, where)
    if before_sequence is not None:
        conditions.append(col(AuditEvent.sequence) < before_sequence)
    page = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.sequence).desc())
        .offset(offset)
        .limit(limit)
    )
    try:
        return [_public(row) for row in session.exec(page)]
    except UNREADABLE_VALUE_ERRORS as exc:
        _raise_unreadable_among(session, conditions, offset=offset, limit=limit, error=exc)
        raise


def page_events_with_cursor(
    session: Session,
    *,
    where: EventFilter = EVERY_EVENT,
    before_sequence: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEventPublic], int | None]:
    """`page_events` and the `before_sequence` of the next (older) page: this page's last sequence when an
    older event matches, None when this page is the last (an exactly full one too: a probe for one older
    match's id, an index range scan, that an unreadable older event does not fail).

    Raises:
        UnreadableEvent: an event of the page holds a value FaceGate never writes (edited in SQLite).
    """
    events = page_events(session, where=where, before_sequence=before_sequence, offset=offset, limit=limit)
    if len(events) < limit:
        return events, None
    last = events[-1].sequence
    below = [*_event_conditions(session, where), col(AuditEvent.sequence) < last]
    probe = select(col(AuditEvent.id)).where(*below).limit(1)
    return events, (last if session.exec(probe).first() is not None else None)


def _raise_unreadable_among(
    session: Session, conditions: list[ColumnElement[bool]], *, offset: int, limit: int, error: Exception
) -> None:
    """Raise the `UnreadableEvent` (from `error`) among the page of events of `conditions`, newest first,
    whose reading failed with `error`; return when each reads back alone."""
    rows = select(col(AuditEvent.id), col(AuditEvent.sequence)).where(*conditions)
    page = rows.order_by(col(AuditEvent.sequence).desc()).offset(offset).limit(limit)
    unreadable = unreadable_event(session, session.exec(page).all())
    if unreadable is not None:
        raise unreadable from error


def verified_events(
    session: Session,
    keyring: Cipher,
    *,
    where: EventFilter = EVERY_EVENT,
    checkpoint: Checkpoint | None = None,
) -> tuple[list[AuditEventPublic], ChainReport]:
    """The events of `where`, oldest first, taken from the very rows the audit chain's verification
    (`verify_chain`, as `facegate audit verify`) vouched for, and that verification's report. `where` takes
    the events the events list takes: its door under each name the door has had (a door's PAD calibration
    counts its events from before a rename), `until` exclusive.

    For readers whose result must not move when someone who can write the database, but does not hold the
    master key, edits, forges, copies or deletes events (a threshold set from events): use the events
    only when the report is ok. It walks the whole log in one transaction (the caller's session), or, given
    a `checkpoint`, only the events after it (`verify_chain_since`, as `facegate audit verify
    --since-checkpoint`): those up to it are neither returned nor checked, so a break there does not show.
    The list holds every match (3.5 KiB each with a gate's PAD cues, bench/audit_verify.py); a reader that
    keeps less of each event streams them with `visit_verified_events`.

    Raises:
        CheckpointInvalid: `checkpoint` was not signed by a master key of `keyring`, or is forged.
        CheckpointMismatch: the log no longer holds `checkpoint`'s link at its sequence.
        DatabaseUnavailable: the database fails mid-read (from the caller's session scope).
    """
    found: list[AuditEventPublic] = []
    report = visit_verified_events(session, keyring, found.append, where=where, checkpoint=checkpoint)
    return found, report


def visit_verified_events(
    session: Session,
    keyring: Cipher,
    visit: Callable[[AuditEventPublic], None],
    *,
    where: EventFilter = EVERY_EVENT,
    checkpoint: Checkpoint | None = None,
) -> ChainReport:
    """`verified_events` as a stream: each matching event goes to `visit`, oldest first, as soon as its
    link verified, and only one batch of rows is held at a time, so a reader that keeps less than the
    event (a score) needs memory for what it keeps, not for every match. `visit` also sees the events
    before a later break: act on what it gathered only when the returned report is ok.

    Raises:
        CheckpointInvalid: `checkpoint` was not signed by a master key of `keyring`, or is forged.
        CheckpointMismatch: the log no longer holds `checkpoint`'s link at its sequence.
        DatabaseUnavailable: the database fails mid-read (from the caller's session scope).
    """
    matches = _event_matcher(session, where)

    def keep(row: AuditEvent) -> None:
        if matches(row):
            visit(_public(row))

    if checkpoint is None:
        return verify_chain(session, keyring, on_verified=keep)
    return verify_chain_since(session, keyring, checkpoint, on_verified=keep)


def _public(row: AuditEvent) -> AuditEventPublic:
    public = AuditEventPublic.model_validate(row)
    return public.model_copy(update={"occurred_at": as_utc(row.occurred_at)})


def iter_event_rows(
    engine: Engine,
    *,
    columns: Sequence[str],
    where: EventFilter = EVERY_EVENT,
    batch_rows: int = 5000,
) -> Iterator[list[tuple[Any, ...]]]:
    """Every matching event as a tuple of `columns` (AuditEventPublic fields), newest first, in batches.

    Each batch is one short transaction that continues below the last sequence seen (keyset), so an
    export of any size holds one batch in memory and never a long-running transaction. Plain tuples,
    not models: building a model per row cost several times the whole export (bench/events_export.py).
    `occurred_at` comes back timezone-aware UTC.

    Raises:
        ValueError: a column that is not a public event field.
        DatabaseUnavailable: the database fails between batches.
        UnreadableEvent: the filter takes an event with a value FaceGate never writes (edited in SQLite).
    """
    unknown = set(columns) - set(AuditEventPublic.model_fields)
    if unknown:
        raise ValueError(f"not public event fields: {sorted(unknown)}")
    with session_scope(engine) as session:
        conditions = _event_conditions(session, where)
        refuse_unreadable(session, conditions)  # before the first batch: refused, not cut off
    selected = [col(getattr(AuditEvent, name)) for name in columns] + [col(AuditEvent.sequence)]
    at = list(columns).index("occurred_at") if "occurred_at" in columns else None
    cursor: int | None = None
    while True:
        below = conditions if cursor is None else [*conditions, col(AuditEvent.sequence) < cursor]
        page = select(*selected).where(*below).order_by(col(AuditEvent.sequence).desc()).limit(batch_rows)
        with session_scope(engine) as session:
            try:
                rows = session.exec(page).all()
            except UNREADABLE_VALUE_ERRORS as exc:
                _raise_unreadable_among(session, below, offset=0, limit=batch_rows, error=exc)
                raise
        if not rows:
            return
        batch = [tuple(row[:-1]) for row in rows]
        if at is not None:
            batch = [(*row[:at], as_utc(row[at]), *row[at + 1 :]) for row in batch]
        yield batch
        if len(rows) < batch_rows:
            return
        cursor = rows[-1][-1]
