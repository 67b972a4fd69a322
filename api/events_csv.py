"""CSV of the audit events matching a filter, produced in batches so the log is never held in memory.

The first batch is read before the response starts, so a database that is down when the export begins is
the route's 503 (database_unavailable, Retry-After) like any other route's. Once the 200 and the header
are on the wire, a database that goes away mid-stream can no longer be a 503. What is left to tell the
client is the transfer itself: the body is left unterminated (no final zero-length chunk; the server
closes the connection), which every HTTP client reports as an incomplete download (curl exit 18, httpx's
RemoteProtocolError, a browser's failed download), where a clean end after the last full batch would be
a file that looks complete.

An audit event that cannot be read (a value FaceGate never writes, edited in SQLite) is found before the
response starts too (storage's iter_event_rows checks the whole filter first): the 409
audit_event_unreadable the events list gives, wherever in the export the event lies. One edited after that
check, while the rows stream, ends the transfer as an outage does, with one error line naming it.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from api.errors import log_passing_error
from storage import DatabaseUnavailable, Engine, EventFilter, UnreadableEvent, iter_event_rows

logger = logging.getLogger(__name__)

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
    "event_uid",  # last: columns are only ever appended, so a reader's positions stay put
)
TEXT_COLUMNS = frozenset(("door", "decision", "reason", "rule", "model_id", "source", "event_uid"))
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to Excel, LibreOffice and Sheets (OWASP CSV injection)."""


def _spreadsheet_safe(cell: object) -> object:
    """Text an admin or a camera chose (a door named `=HYPERLINK(...)`) is quoted so it stays text."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def csv_lines(batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[str]:
    """The header, then the rows of `batches` (storage's iter_event_rows of COLUMNS), one chunk per batch.

    Used by GET /events/export.csv and the console's export; memory stays at one batch (storage's
    iter_event_rows walks the sequence with a keyset, one short transaction per batch).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
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


class EventsCsvResponse(StreamingResponse):
    """A streamed CSV whose transfer is left unterminated, and logged once, when the database goes away or an
    event it reaches cannot be read."""

    def __init__(self, lines: Iterator[str], *, request: Request, filename: str) -> None:
        disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
        super().__init__(lines, media_type="text/csv; charset=utf-8", headers=disposition)
        self._request = request

    async def stream_response(self, send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        """Starlette's, except that an outage or an unreadable event ends the body without its last message
        (see the module)."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        sent_bytes = 0
        try:
            async for chunk in self.body_iterator:
                body = chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk)
                await send({"type": "http.response.body", "body": body, "more_body": True})
                sent_bytes += len(body)
        except (DatabaseUnavailable, UnreadableEvent) as exc:
            outcome = (
                f"was cut off after {sent_bytes} bytes of its 200 answer "
                "(left unterminated: the client sees an incomplete download)"
            )
            if isinstance(exc, DatabaseUnavailable):
                log_passing_error(self._request, exc, outcome=outcome)  # rate-limited with the outage's 503s
            else:  # edited since the check before the first batch: no traceback, it is no bug of ours
                logger.error("%s %s %s: %s", self._request.method, self._request.url.path, outcome, exc)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def csv_response(
    request: Request,
    engine: Engine,
    *,
    where: EventFilter,
) -> StreamingResponse:
    """The events of `where` as a streamed CSV download named after the current UTC time (for `request`).

    Raises:
        DatabaseUnavailable: the database fails before the first batch is read (the route's 503).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    batches = iter_event_rows(engine, columns=COLUMNS, where=where)
    first = list(islice(batches, 1))  # read before the 200 starts: an outage now is still a 503
    lines = csv_lines(chain(first, batches))
    return EventsCsvResponse(lines, request=request, filename=f"facegate-events-{stamp}.csv")
