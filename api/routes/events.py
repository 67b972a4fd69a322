"""Read-only audit log queries (auditor or admin): newest first with a keyset cursor, and a CSV export."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from api.deps import AuditorKey, Limit, Offset, ServicesDep, SessionDep
from api.events_csv import csv_response
from api.schemas import ConflictPublic, EventsPage
from storage import MAX_DB_INT, Decision, EventFilter, count_events, page_events_with_cursor

router = APIRouter(tags=["audit"])


@dataclass(frozen=True)
class EventFilterQuery:
    """The filters of `facegate events` as query parameters, shared by the list and the export."""

    door: Annotated[
        str | None,
        Query(description="A door's name, now or before a rename: the events under each name it has had."),
    ] = None
    person_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None
    decision: Annotated[
        Decision | None,
        Query(
            description="granted or denied: access decisions; recorded: the audit log's own events and "
            "erasures."
        ),
    ] = None
    since: Annotated[
        AwareDatetime | None, Query(description="Inclusive lower bound, ISO 8601 with a zone.")
    ] = None
    until: Annotated[
        AwareDatetime | None, Query(description="Exclusive upper bound, ISO 8601 with a zone.")
    ] = None
    event_uid: Annotated[
        str | None,
        Query(
            max_length=36,
            description="The event with this event_uid: a gate grant's is the unlock_id its door was sent.",
        ),
    ] = None

    def event_filter(self) -> EventFilter:
        """The parameters as storage's event filter."""
        return EventFilter(**asdict(self))


FilterDep = Annotated[EventFilterQuery, Depends()]
Cursor = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_DB_INT,
        description="Keyset cursor: only events below this sequence (`next_before_sequence`).",
    ),
]


_UNREADABLE: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "model": ConflictPublic,
        "description": "An event of the answer holds a value FaceGate never writes (its row was edited in "
        "SQLite; `status`: `audit_event_unreadable`): the detail names its sequence and column; "
        "`facegate audit verify` (GET /audit/verify) checks the whole log.",
    }
}


@router.get("/events", responses=_UNREADABLE)
def list_events(
    session: SessionDep,
    _key: AuditorKey,
    where: FilterDep,
    before_sequence: Cursor = None,
    with_total: Annotated[
        bool,
        Query(description="Count every match (a scan of them all on a large log); false: total is null."),
    ] = True,
    offset: Offset = 0,
    limit: Limit = 50,
) -> EventsPage:
    """Audit events, newest first, filtered; `total` counts every match of the filter."""
    matching = where.event_filter()
    items, cursor = page_events_with_cursor(
        session, where=matching, before_sequence=before_sequence, offset=offset, limit=limit
    )
    total = count_events(session, where=matching) if with_total else None
    return EventsPage(items=items, total=total, offset=offset, limit=limit, next_before_sequence=cursor)


@router.get(
    "/events/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "Every matching event, newest first. A transfer that ends before its end (an "
            "incomplete chunked body) was cut off by a database outage, or by an event edited to a value "
            "FaceGate never writes while it streamed (GET /events names it: 409): the file is not the whole "
            "export.",
        },
        **_UNREADABLE,
    },
)
def export_events(
    request: Request, services: ServicesDep, _key: AuditorKey, where: FilterDep
) -> StreamingResponse:
    """Every event of the filter as CSV, streamed in batches (a month of 1M events never sits in memory)."""
    return csv_response(request, services.engine, where=where.event_filter())
