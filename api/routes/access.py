"""Access policy (admin): groups, their members, and weekly door rules; gates reload them with the gallery."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.deps import AdminKey, Limit, Offset, RowId, SessionDep
from api.errors import IDEMPOTENT_RESPONSES, idempotent_responses
from api.idempotency import IdempotencyDep
from api.schemas import ErrorPublic, GroupCreate, Page
from storage import (
    AccessGroupPublic,
    DoorRuleCreate,
    DoorRulePublic,
    add_member,
    create_door_rule,
    create_group,
    delete_door_rule,
    delete_group,
    list_door_rules,
    list_groups,
    remove_member,
)

router = APIRouter(prefix="/access", tags=["access"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorPublic, "description": "No such group, person or rule."}
}
_OPENS_DOORS: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    status.HTTP_409_CONFLICT: {
        "model": ErrorPublic,
        "description": "It would leave a door without rules (open to every enrolled person), and "
        "`allow_open_doors` is not set; nothing is deleted.",
    },
}
AllowOpenDoors = Annotated[
    bool,
    Query(
        description="Delete even the last rules of a door: a door without rules admits every enrolled "
        "person at any time. Without it, such a deletion is 409 and deletes nothing."
    ),
]


@router.post(
    "/groups",
    status_code=status.HTTP_201_CREATED,
    responses=idempotent_responses("A group of that name exists."),
)
def create_group_route(
    body: GroupCreate, session: SessionDep, _key: AdminKey, once: IdempotencyDep
) -> AccessGroupPublic:
    """Create an empty group; safe to retry with the same `Idempotency-Key`."""
    return once.remember(create_group(session, name=body.name))


@router.get("/groups")
def list_groups_route(
    session: SessionDep, _key: AdminKey, offset: Offset = 0, limit: Limit = 50
) -> Page[AccessGroupPublic]:
    """Groups ordered by id, with their members' person ids."""
    items, total = list_groups(session, offset=offset, limit=limit)
    return Page[AccessGroupPublic](items=items, total=total, offset=offset, limit=limit)


@router.delete("/groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_OPENS_DOORS)
def delete_group_route(
    group_id: RowId, session: SessionDep, _key: AdminKey, allow_open_doors: AllowOpenDoors = False
) -> None:
    """Delete a group with its memberships and door rules; 409 where they are a door's last rules."""
    delete_group(session, group_id, allow_open_doors=allow_open_doors)


@router.put("/groups/{group_id}/members/{person_id}", responses=_NOT_FOUND)
def add_member_route(
    group_id: RowId, person_id: RowId, session: SessionDep, _key: AdminKey
) -> AccessGroupPublic:
    """Put a person in a group (idempotent)."""
    return add_member(session, group_id=group_id, person_id=person_id)


@router.delete("/groups/{group_id}/members/{person_id}", responses=_NOT_FOUND)
def remove_member_route(
    group_id: RowId, person_id: RowId, session: SessionDep, _key: AdminKey
) -> AccessGroupPublic:
    """Take a person out of a group."""
    return remove_member(session, group_id=group_id, person_id=person_id)


@router.post("/rules", status_code=status.HTTP_201_CREATED, responses={**_NOT_FOUND, **IDEMPOTENT_RESPONSES})
def create_rule_route(
    body: DoorRuleCreate, session: SessionDep, _key: AdminKey, once: IdempotencyDep
) -> DoorRulePublic:
    """Admit a group at a door on a weekly window; once a door has a rule, only its rules admit.

    `door` is its name now or a former one (the rule goes to the door it names now). A name no door has
    or had is 422 and nothing is added, unless `create_door` registers it. Safe to retry with the same
    `Idempotency-Key` (without one, a retried request adds the rule twice).
    """
    return once.remember(create_door_rule(session, body))


@router.get("/rules")
def list_rules_route(
    session: SessionDep, _key: AdminKey, door: str | None = None, offset: Offset = 0, limit: Limit = 50
) -> Page[DoorRulePublic]:
    """Door rules ordered by id, of one door when `door` is given: by its name now or a former one."""
    items, total = list_door_rules(session, door=door, offset=offset, limit=limit)
    return Page[DoorRulePublic](items=items, total=total, offset=offset, limit=limit)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_OPENS_DOORS)
def delete_rule_route(
    rule_id: RowId, session: SessionDep, _key: AdminKey, allow_open_doors: AllowOpenDoors = False
) -> None:
    """Delete one door rule; 409 when it is its door's last (the door would admit everyone)."""
    delete_door_rule(session, rule_id, allow_open_doors=allow_open_doors)
