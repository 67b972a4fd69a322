"""CSV of the audit events matching a filter, produced in batches so the log is never held in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from storage import AuditEventPublic, Decision, Engine, query_events, session_scope

COLUMNS = (
    "sequence",
    "occurred_at",
    "door",
    "decision",
    "reason",
    "person_id",
    "score",
    "threshold",
    "margin",
    "rule",
    "model_id",
    "source",
    "track_id",
)
_BATCH = 1000


def _row(event: AuditEventPublic) -> list[object]:
    return [
        event.occurred_at.isoformat() if name == "occurred_at" else getattr(event, name) for name in COLUMNS
    ]


def csv_lines(
    engine: Engine,
    *,
    door: str | None,
    person_id: int | None,
    decision: Decision | None,
    since: datetime | None,
    until: datetime | None,
) -> Iterator[str]:
    """The header, then the matching events newest first, a batch of rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    offset = 0
    while True:
        with session_scope(engine) as session:
            events, _ = query_events(
                session,
                door=door,
                person_id=person_id,
                decision=decision,
                since=since,
                until=until,
                offset=offset,
                limit=_BATCH,
            )
        writer.writerows(_row(event) for event in events)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(events) < _BATCH:
            return
        offset += _BATCH
