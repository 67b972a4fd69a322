"""Access (admin): groups and their members, doors, weekly door rules with a time zone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.templating import render
from api.deps import SessionDep
from storage import (
    Conflict,
    DoorRuleCreate,
    NotFound,
    Session,
    Weekday,
    add_member,
    create_door,
    create_door_rule,
    create_group,
    delete_door_rule,
    delete_group,
    list_doors_with_rules,
    list_groups,
    list_people,
    remove_member,
    rename_door,
)

router = APIRouter(prefix="/ui/access", include_in_schema=False)
_MAX_ROWS = 500
Name = Annotated[str, Form(min_length=1, max_length=100)]


def _page(
    request: Request, session: Session, user: ConsoleUser, *, error: str | None = None, status_code: int = 200
) -> Response:
    groups, _ = list_groups(session, limit=_MAX_ROWS)
    doors, _ = list_doors_with_rules(session, limit=_MAX_ROWS)
    people, _ = list_people(session, limit=_MAX_ROWS)
    return render(
        request,
        "access.html",
        user=user,
        status_code=status_code,
        error=error,
        groups=groups,
        group_names={group.id: group.name for group in groups},
        doors=doors,
        names={person.id: person.name for person in people},
        weekdays=list(Weekday),
    )


def _act(request: Request, session: Session, user: ConsoleUser, action: Callable[[], object]) -> Response:
    """Run one change; back to the page, or the page with the reason it was refused."""
    try:
        action()
    except NotFound as exc:
        return _page(request, session, user, error=str(exc), status_code=status.HTTP_404_NOT_FOUND)
    except Conflict as exc:
        return _page(request, session, user, error=str(exc), status_code=status.HTTP_409_CONFLICT)
    except ValidationError as exc:
        message = "; ".join(error["msg"] for error in exc.errors())
        return _page(request, session, user, error=message, status_code=status.HTTP_400_BAD_REQUEST)
    return RedirectResponse("/ui/access", status_code=status.HTTP_303_SEE_OTHER)


@router.get("")
def access_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Groups, members, doors and rules on one page."""
    return _page(request, session, user)


@router.post("/groups")
def add_group(request: Request, session: SessionDep, user: AdminForm, name: Name) -> Response:
    return _act(request, session, user, lambda: create_group(session, name=name))


@router.post("/groups/{group_id}/delete")
def remove_group(request: Request, session: SessionDep, user: AdminForm, group_id: int) -> Response:
    return _act(request, session, user, lambda: delete_group(session, group_id))


@router.post("/groups/{group_id}/members")
def add_group_member(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    group_id: int,
    person_id: Annotated[int, Form()],
) -> Response:
    return _act(request, session, user, lambda: add_member(session, group_id=group_id, person_id=person_id))


@router.post("/groups/{group_id}/members/{person_id}/delete")
def remove_group_member(
    request: Request, session: SessionDep, user: AdminForm, group_id: int, person_id: int
) -> Response:
    return _act(
        request, session, user, lambda: remove_member(session, group_id=group_id, person_id=person_id)
    )


@router.post("/doors")
def add_door(request: Request, session: SessionDep, user: AdminForm, name: Name) -> Response:
    return _act(request, session, user, lambda: create_door(session, name=name))


@router.post("/doors/{door_id}/rename")
def rename_a_door(
    request: Request, session: SessionDep, user: AdminForm, door_id: int, name: Name
) -> Response:
    return _act(request, session, user, lambda: rename_door(session, door_id, name=name))


@router.post("/rules")
def add_rule(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    door: Name,
    group_id: Annotated[int, Form()],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    weekdays: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A weekly window: the group may pass the door on these days between start and end, local time."""

    def create() -> object:
        rule = DoorRuleCreate.model_validate(
            {
                "door": door,
                "group_id": group_id,
                "weekdays": weekdays or [],
                "start": start,
                "end": end,
                "timezone": timezone,
            }
        )
        return create_door_rule(session, rule)

    return _act(request, session, user, create)


@router.post("/rules/{rule_id}/delete")
def remove_rule(request: Request, session: SessionDep, user: AdminForm, rule_id: int) -> Response:
    return _act(request, session, user, lambda: delete_door_rule(session, rule_id))
