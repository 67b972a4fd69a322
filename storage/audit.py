"""Append-only audit log: insert and query, nothing else (F4)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from storage.models import AuditEvent, AuditEventCreate, AuditEventPublic, Decision
from storage.timeutil import as_utc


def append_event(session: Session, event: AuditEventCreate) -> AuditEvent:
    values = event.model_dump(exclude_none=True)
    # SQLite drops the UTC offset of a bound datetime, so an aware non-UTC time would shift.
    if "occurred_at" in values:
        values["occurred_at"] = as_utc(values["occurred_at"])
    row = AuditEvent(**values)
    session.add(row)
    session.flush()
    return row


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


def query_events(
    session: Session,
    *,
    door: str | None = None,
    person_id: int | None = None,
    decision: Decision | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEventPublic], int]:
    """One page of events, newest first, and the total matching count. `until` is exclusive."""
    conditions = _conditions(door=door, person_id=person_id, decision=decision, since=since, until=until)
    total = int(session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one())
    page = (
        select(AuditEvent).where(*conditions).order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)
    )
    events = []
    for row in session.exec(page):
        public = AuditEventPublic.model_validate(row)
        events.append(public.model_copy(update={"occurred_at": as_utc(row.occurred_at)}))
    return events, total
