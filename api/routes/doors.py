"""Doors (admin): list with their weekly rules, register, rename, forget a former name."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AdminKey, Limit, Offset, RowId, ServicesDep, SessionDep
from api.errors import idempotent_responses
from api.idempotency import IdempotencyDep
from api.schemas import DoorCreate, ErrorPublic, Page
from storage import (
    DoorPublic,
    DoorRenamedPublic,
    create_door,
    forget_former_door_name,
    list_doors_with_rules,
    rename_door,
)

router = APIRouter(prefix="/doors", tags=["access"])
_TAKEN = "A door has that name, or had it before a rename (gates may still use it)."
_CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {"model": ErrorPublic, "description": _TAKEN}
}


@router.get("")
def list_(session: SessionDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50) -> Page[DoorPublic]:
    """Doors by name, each with its rules (a door without rules admits every enrolled person)."""
    items, total = list_doors_with_rules(session, offset=offset, limit=limit)
    return Page[DoorPublic](items=items, total=total, offset=offset, limit=limit)


@router.post("", status_code=status.HTTP_201_CREATED, responses=idempotent_responses(_TAKEN))
def create(body: DoorCreate, session: SessionDep, _key: AdminKey, once: IdempotencyDep) -> DoorPublic:
    """Register a door before its gate first starts (gates also register theirs); safe to retry with the
    same `Idempotency-Key`."""
    return once.remember(create_door(session, name=body.name))


@router.patch(
    "/{door_id}",
    responses={
        **_CONFLICT,
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such door."},
    },
)
def rename(
    door_id: RowId, body: DoorCreate, session: SessionDep, services: ServicesDep, _key: AdminKey
) -> DoorRenamedPublic:
    """Rename a door; its rules and device keys follow. The old name becomes a former name: gates
    configured with it keep applying this door's rules under it, with a warning in their log, until
    reconfigured, and no other door can take it. The answer lists what knows the door by its old name:
    the sources that audited under it lately (their gates) and the device keys serving the door."""
    return rename_door(session, door_id, name=body.name, now=services.clock())


@router.delete(
    "/{door_id}/former-names/{name:path}",
    responses={
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such door or former name."},
        status.HTTP_409_CONFLICT: {
            "model": ErrorPublic,
            "description": "Events were audited under the name: it stays the door's.",
        },
    },
)
def forget_former_name(door_id: RowId, name: str, session: SessionDep, _key: AdminKey) -> DoorPublic:
    """Drop a former name of a door: gates configured with it no longer find the door, and another door
    may take it. Refused while the audit log holds events recorded under it (they keep the name they were
    recorded under, and the door's event filter finds them by it): only a name no gate ever decided
    under, a mistyped rename say, can be dropped."""
    return forget_former_door_name(session, door_id, name=name)
