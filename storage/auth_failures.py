"""Failed API sign-ins counted from the audit log, where each one under the limit is a denied event of the
door `api`: one count that every API server on the database shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from storage.doors import API_AUDIT_DOOR
from storage.models import AuditEvent, Decision
from storage.timeutil import as_utc


@dataclass(frozen=True)
class RecentFailures:
    """The failed sign-ins of one client address audited since a time."""

    count: int
    oldest_at: datetime | None
    """When the oldest of them was audited (UTC); None when there are none."""


def recent_auth_failures(session: Session, *, client: str, since: datetime) -> RecentFailures:
    """The denied sign-ins of `client` audited at or after `since`, by any API server on this database.

    They are the events the API writes for a failure (door `api`, source the address, and for a real key
    `ADDRESS token ID`); a failure over the limit is not audited, so it is not counted either.
    """
    source = col(AuditEvent.source)
    count, oldest_at = session.exec(
        select(func.count(), func.min(col(AuditEvent.occurred_at))).where(
            col(AuditEvent.door) == API_AUDIT_DOOR,
            col(AuditEvent.decision) == Decision.denied,
            col(AuditEvent.occurred_at) >= since,
            or_(source == client, source.startswith(f"{client} token ", autoescape=True)),
        )
    ).one()
    return RecentFailures(int(count), None if oldest_at is None else as_utc(oldest_at))
