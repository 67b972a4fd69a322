"""Read-only, paginated audit log queries (auditor or admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import AuditorKey, Limit, Offset, SessionDep
from api.schemas import Page
from storage import AuditEventPublic, Decision, query_events

router = APIRouter(tags=["audit"])


@router.get("/events")
def list_events(
    session: SessionDep,
    _key: AuditorKey,
    door: str | None = None,
    person_id: int | None = None,
    decision: Decision | None = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Inclusive lower bound, ISO 8601 with a zone.")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Exclusive upper bound, ISO 8601 with a zone.")
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[AuditEventPublic]:
    """Audit events, newest first, filtered; `total` counts every match."""
    items, total = query_events(
        session,
        door=door,
        person_id=person_id,
        decision=decision,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    return Page[AuditEventPublic](items=items, total=total, offset=offset, limit=limit)
