"""CSV of the audit events matching a filter, produced in batches so the log is never held in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from storage import Decision, Engine, iter_event_rows

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


def csv_lines(
    engine: Engine,
    *,
    door: str | None,
    person_id: int | None,
    decision: Decision | None,
    since: datetime | None,
    until: datetime | None,
) -> Iterator[str]:
    """The header, then the matching events newest first, one chunk of rows per storage batch.

    Used by GET /events/export.csv and the console's export; memory stays at one batch (storage's
    iter_event_rows walks the sequence with a keyset, one short transaction per batch).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    batches = iter_event_rows(
        engine, columns=COLUMNS, door=door, person_id=person_id, decision=decision, since=since, until=until
    )
    at = COLUMNS.index("occurred_at")
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows((*row[:at], row[at].isoformat(), *row[at + 1 :]) for row in batch)
        yield buffer.getvalue()
