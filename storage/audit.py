"""Append-only audit log: insert and query, nothing else (F4).

Every insert extends the hash chain of storage/audit_chain.py under the chain head's row lock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.audit_chain import GENESIS_HASH, HEAD_ID, chain_key, compute_link
from storage.db import session_scope
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


def _conditions(
    *,
    door: str | None,
    person_id: int | None,
    decision: Decision | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if door is not None:
        conditions.append(col(AuditEvent.door) == door)
    if person_id is not None:
        conditions.append(col(AuditEvent.person_id) == person_id)
    if decision is not None:
        conditions.append(col(AuditEvent.decision) == decision)
    if since is not None:
        conditions.append(col(AuditEvent.occurred_at) >= as_utc(since))
    if until is not None:
        conditions.append(col(AuditEvent.occurred_at) < as_utc(until))
    return conditions


def existing_event_uids(session: Session, uids: Collection[str]) -> set[str]:
    """Which of these writer event ids the log already holds: a redelivered event is then skipped."""
    if not uids:
        return set()
    found = session.exec(select(AuditEvent.event_uid).where(col(AuditEvent.event_uid).in_(list(uids))))
    return {uid for uid in found if uid is not None}


def query_events(
    session: Session,
    *,
    door: str | None = None,
    person_id: int | None = None,
    decision: Decision | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_sequence: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEventPublic], int]:
    """One page of events, newest (highest sequence) first, and the total matching count.

    `until` is exclusive. `before_sequence` is the keyset cursor: only events with a lower sequence,
    so the next page is the last sequence of this one (the total ignores the cursor).
    """
    conditions = _conditions(door=door, person_id=person_id, decision=decision, since=since, until=until)
    total = int(session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one())
    if before_sequence is not None:
        conditions.append(col(AuditEvent.sequence) < before_sequence)
    page = (
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.sequence).desc())
        .offset(offset)
        .limit(limit)
    )
    return [_public(row) for row in session.exec(page)], total


def _public(row: AuditEvent) -> AuditEventPublic:
    public = AuditEventPublic.model_validate(row)
    return public.model_copy(update={"occurred_at": as_utc(row.occurred_at)})


def iter_events(
    engine: Engine,
    *,
    door: str | None = None,
    person_id: int | None = None,
    decision: Decision | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_rows: int = 2000,
) -> Iterator[list[AuditEventPublic]]:
    """Every matching event, newest first, in batches of at most `batch_rows`.

    Each batch is one short transaction that continues below the last sequence seen (keyset), so an
    export of any size holds one batch in memory and never a long-running transaction.

    Raises:
        DatabaseUnavailable: the database fails between batches.
    """
    conditions = _conditions(door=door, person_id=person_id, decision=decision, since=since, until=until)
    cursor: int | None = None
    while True:
        page = select(AuditEvent).where(*conditions)
        if cursor is not None:
            page = page.where(col(AuditEvent.sequence) < cursor)
        with session_scope(engine) as session:
            rows = session.exec(page.order_by(col(AuditEvent.sequence).desc()).limit(batch_rows)).all()
            batch = [_public(row) for row in rows]
        if not batch:
            return
        yield batch
        if len(batch) < batch_rows:
            return
        cursor = batch[-1].sequence
