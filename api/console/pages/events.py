"""Events (auditor, admin): the audit log with filters, newest first, refreshed live; CSV of the filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.console.auth import AuditorPage
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from api.events_csv import csv_response
from storage import (
    AuditEventPublic,
    Decision,
    EventFilter,
    Session,
    count_events,
    list_doors,
    page_events_with_cursor,
    person_names,
)

router = APIRouter(prefix="/ui/events", include_in_schema=False)
PAGE_SIZE = 50
TOTAL_CAP = 10_000
"""The Events page counts matches up to here: exactly counting a million-event log outlasts the page."""


@dataclass(frozen=True)
class EventFilterForm:
    """The filter form: door, decision, person, a range of whole UTC days (both inclusive), and an event's
    uid (a door unlock's unlock_id, as a door controller logs it)."""

    door: str | None
    decision: Decision | None
    person_id: int | None
    from_day: date | None
    to_day: date | None
    event_uid: str | None = None

    @property
    def since(self) -> datetime | None:
        return None if self.from_day is None else datetime.combine(self.from_day, time(), UTC)

    @property
    def until(self) -> datetime | None:
        """The start of the day after `to_day`; None (no bound) after the last day a date holds."""
        if self.to_day is None or self.to_day == date.max:
            return None
        return datetime.combine(self.to_day + timedelta(days=1), time(), UTC)

    def event_filter(self) -> EventFilter:
        """The form as storage's event filter."""
        return EventFilter(
            door=self.door,
            person_id=self.person_id,
            decision=self.decision,
            since=self.since,
            until=self.until,
            event_uid=self.event_uid,
        )

    def query_string(self) -> str:
        """The filter as URL parameters (for the CSV link and the live refresh)."""
        fields = {
            "door": self.door,
            "decision": self.decision.value if self.decision else None,
            "person_id": self.person_id,
            "from_day": self.from_day.isoformat() if self.from_day else None,
            "to_day": self.to_day.isoformat() if self.to_day else None,
            "event_uid": self.event_uid,
        }
        return urlencode({name: value for name, value in fields.items() if value not in (None, "")})


def _filter(
    door: Annotated[str | None, Query(max_length=100)] = None,
    decision: Annotated[Decision | Literal[""] | None, Query()] = None,
    person_id: Annotated[str | None, Query(pattern=r"^[0-9]{0,12}$")] = None,
    from_day: Annotated[date | Literal[""] | None, Query()] = None,
    to_day: Annotated[date | Literal[""] | None, Query()] = None,
    event_uid: Annotated[str | None, Query(max_length=100)] = None,
) -> EventFilterForm:
    """The form's fields; an empty field (as a browser sends it) means no filter. An event uid is taken
    without the spaces around it (pasted from a controller's log); one longer than a uid matches nothing."""
    return EventFilterForm(
        door=door or None,
        decision=decision or None,
        person_id=int(person_id) if person_id else None,
        from_day=from_day or None,
        to_day=to_day or None,
        event_uid=(event_uid or "").strip() or None,
    )


FilterDep = Annotated[EventFilterForm, Depends(_filter)]


def _names(session: Session, events: list[AuditEventPublic]) -> dict[int, str]:
    ids = {event.person_id for event in events if event.person_id is not None}
    found = person_names(session, ids)
    return {person_id: found.get(person_id, f"(deleted person {person_id})") for person_id in ids}


def _page_context(session: Session, where: EventFilterForm, before: int | None) -> dict[str, Any]:
    """A page of events below the sequence `before` (None: the newest), keyset-paged like GET /events."""
    events, older = page_events_with_cursor(
        session, where=where.event_filter(), before_sequence=before, limit=PAGE_SIZE
    )
    return {"events": events, "older": older, "names": _names(session, events)}


def _total(session: Session, where: EventFilterForm) -> int:
    """Events matching the filter, counted up to TOTAL_CAP + 1 (the page says "more than" beyond)."""
    return count_events(session, where=where.event_filter(), at_most=TOTAL_CAP)


@router.get("")
def events_page(
    request: Request,
    session: SessionDep,
    user: AuditorPage,
    where: FilterDep,
    before: Annotated[int | None, Query(ge=1, description="Show events below this sequence.")] = None,
) -> Response:
    """The filtered log, newest first; the first page refreshes itself every few seconds."""
    return render(
        request,
        "events.html",
        user=user,
        where=where,
        query=where.query_string(),
        before=before,
        doors=list_doors(session),
        decisions=list(Decision),
        total=_total(session, where),
        total_cap=TOTAL_CAP,
        **_page_context(session, where, before),
    )


@router.get("/rows")
def event_rows(request: Request, session: SessionDep, user: AuditorPage, where: FilterDep) -> Response:
    """The newest page's table rows alone, for the live refresh (every 3 s per open page: no count)."""
    return render(request, "event_rows.html", user=user, **_page_context(session, where, None))


@router.get("/export.csv")
def export_csv(
    request: Request, services: ServicesDep, _user: AuditorPage, where: FilterDep
) -> StreamingResponse:
    """Every event of the filter as CSV, streamed (never the whole log in memory)."""
    return csv_response(request, services.engine, where=where.event_filter())
