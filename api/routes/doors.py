"""Doors (admin): list with their weekly rules, register, rename, forget a former name."""

from __future__ import annotations

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
        **idempotent_responses(_TAKEN),
        status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such door."},
    },
)
def rename(
    door_id: RowId,
    body: DoorCreate,
    session: SessionDep,
    services: ServicesDep,
    _key: AdminKey,
    once: IdempotencyDep,
) -> DoorRenamedPublic:
    """Rename a door; its rules and device keys follow. The old name becomes a former name: gates
    configured with it keep applying this door's rules under it, with a warning in their log, until
    reconfigured, and no other door can take it. The answer lists what knows the door by its old name:
    the sources that audited under it lately (their gates) and the device keys serving the door.

    Safe to retry with the same `Idempotency-Key`: the retry gets that answer again. Without the key, the
    retry of a rename that committed renames nothing and answers as much: the new name as the former one,
    and nothing to reconfigure."""
    return once.remember(rename_door(session, door_id, name=body.name, now=services.clock()))


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
