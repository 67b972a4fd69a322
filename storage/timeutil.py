"""SQLite returns naive datetimes; everything stored is UTC, so re-attach the zone on the way out."""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
