"""CSV of the audit events matching a filter, produced in batches so the log is never held in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi.responses import StreamingResponse

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
TEXT_COLUMNS = frozenset(("door", "decision", "reason", "rule", "model_id", "source"))
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to Excel, LibreOffice and Sheets (OWASP CSV injection)."""


def _spreadsheet_safe(cell: object) -> object:
    """Text an admin or a camera chose (a door named `=HYPERLINK(...)`) is quoted so it stays text."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


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
    text_at = [i for i, column in enumerate(COLUMNS) if column in TEXT_COLUMNS]
    for batch in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in batch:
            cells = list(row)
            cells[at] = cells[at].isoformat()
            for i in text_at:
                cells[i] = _spreadsheet_safe(cells[i])
            writer.writerow(cells)
        yield buffer.getvalue()


def csv_response(
    engine: Engine,
    *,
    door: str | None,
    person_id: int | None,
    decision: Decision | None,
    since: datetime | None,
    until: datetime | None,
) -> StreamingResponse:
    """The filter's events as a streamed CSV download named after the current UTC time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = csv_lines(engine, door=door, person_id=person_id, decision=decision, since=since, until=until)
    return StreamingResponse(
        lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="facegate-events-{stamp}.csv"'},
    )
