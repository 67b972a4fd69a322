"""Access (admin): groups and their members, doors and their former names, weekly door rules with a time
zone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.changes import Refusal
from api.console.once import FormOnce, FormOnceDep, Kept, Landing, Replayed, change_once, redirect_once
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from storage import (
    RENAME_LOOKBACK_DAYS,
    DoorRenamedPublic,
    DoorRuleCreate,
    Session,
    Weekday,
    add_member,
    create_door,
    create_door_rule,
    create_group,
    delete_door_rule,
    delete_group,
    forget_former_door_name,
    list_doors_with_rules,
    list_groups,
    list_people,
    remove_member,
    rename_door,
)

router = APIRouter(prefix="/ui/access", include_in_schema=False)
_MAX_ROWS = 500
Name = Annotated[str, Form(min_length=1, max_length=100)]
AllowOpenDoors = Annotated[bool, Form()]
"""The refusal page's "Delete anyway" form: the admin knows the deletion leaves doors without rules."""


class ForgottenName(BaseModel):
    """A former name the console just dropped, and the door's name now (kept as the form's answer)."""

    door: str
    name: str


def _page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    error: str | None = None,
    status_code: int = 200,
    kept: Mapping[str, object] | None = None,
    renamed: DoorRenamedPublic | None = None,
    forgotten: ForgottenName | None = None,
    confirm: Refusal | None = None,
    confirm_action: str | None = None,
) -> Response:
    """The page; after a refusal, `error` says why and `kept` holds the refused form's input; after a
    rename, `renamed` says what still knows the door by its old name; `forgotten`, which name was dropped.
    A deletion refused since it would leave doors without rules (`confirm`) is offered again, posting to
    `confirm_action` with allow_open_doors."""
    groups, _ = list_groups(session, limit=_MAX_ROWS)
    doors, _ = list_doors_with_rules(session, limit=_MAX_ROWS)
    people, _ = list_people(session, limit=_MAX_ROWS)
    return render(
        request,
        "access.html",
        user=user,
        status_code=status_code,
        error=error,
        kept=kept or {},
        groups=groups,
        group_names={group.id: group.name for group in groups},
        doors=doors,
        names={person.id: person.name for person in people},
        weekdays=list(Weekday),
        renamed=renamed,
        forgotten=forgotten,
        lookback_days=RENAME_LOOKBACK_DAYS,
        open_doors=confirm.open_doors if confirm is not None and confirm_action is not None else (),
        confirm_action=confirm_action,
    )


def _act(
    request: Request,
    session: Session,
    user: ConsoleUser,
    change: Callable[[Session], object],
    *,
    kept: Mapping[str, object],
    once: FormOnce | None = None,
    confirm_action: str | None = None,
) -> Response:
    """Commit one change (once for a form's `once`: sent again, back to the page as the first went); back to
    the page, or the page saying why it was refused, `kept` in its form. A deletion refused since it would
    leave doors open to everyone is offered again there, as a form posting to `confirm_action`."""
    outcome = redirect_once(session, once, change, to=lambda _: Landing("/ui/access"))
    if isinstance(outcome, Refusal):
        page = _page(
            request,
            session,
            user,
            error=outcome.message,
            kept=kept,
            confirm=outcome,
            confirm_action=confirm_action,
        )
        return outcome.shown(page)
    return outcome


def _delete_opening(
    request: Request,
    session: Session,
    user: ConsoleUser,
    once: FormOnce,
    delete: Callable[..., None],
    row_id: int,
    *,
    allow_open_doors: bool,
) -> Response:
    """Delete a group or a rule (`delete`: storage's delete_group, delete_door_rule); refused since it would
    leave doors without rules, the page offers the same form again with allow_open_doors."""
    return _act(
        request,
        session,
        user,
        lambda s: delete(s, row_id, allow_open_doors=allow_open_doors),
        kept={},
        once=once,
        confirm_action=request.url.path,
    )


@router.get("")
def access_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Groups, members, doors and rules on one page."""
    return _page(request, session, user)


@router.post("/groups")
def add_group(
    request: Request, session: SessionDep, user: AdminForm, once: FormOnceDep, name: Name
) -> Response:
    return _act(
        request, session, user, lambda s: create_group(s, name=name), kept={"group_name": name}, once=once
    )


@router.post("/groups/{group_id}/delete")
def remove_group(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    once: FormOnceDep,
    group_id: int,
    allow_open_doors: AllowOpenDoors = False,
) -> Response:
    return _delete_opening(
        request, session, user, once, delete_group, group_id, allow_open_doors=allow_open_doors
    )


@router.post("/groups/{group_id}/members")
def add_group_member(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    group_id: int,
    person_id: Annotated[int, Form()],
) -> Response:
    return _act(
        request,
        session,
        user,
        lambda s: add_member(s, group_id=group_id, person_id=person_id),
        kept={"member_group_id": group_id, "member_person_id": person_id},
    )


@router.post("/groups/{group_id}/members/{person_id}/delete")
def remove_group_member(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    once: FormOnceDep,
    group_id: int,
    person_id: int,
) -> Response:
    return _act(
        request,
        session,
        user,
        lambda s: remove_member(s, group_id=group_id, person_id=person_id),
        kept={},
        once=once,
    )


@router.post("/doors")
def add_door(
    request: Request, session: SessionDep, user: AdminForm, once: FormOnceDep, name: Name
) -> Response:
    return _act(
        request, session, user, lambda s: create_door(s, name=name), kept={"door_name": name}, once=once
    )


@router.post("/doors/{door_id}/rename")
def rename_a_door(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    door_id: int,
    name: Name,
) -> Response:
    """Rename; the page then says which gates and device keys still know the door by its old name (sent
    again, the same notice: the second sending renames nothing and would name none)."""
    outcome = change_once(
        session,
        once,
        lambda s: rename_door(s, door_id, name=name, now=services.clock()),
        keep=lambda renamed: Kept(renamed, status_code=status.HTTP_200_OK),
        kind=DoorRenamedPublic,
    )
    if isinstance(outcome, Refusal):
        kept = {"rename_door_id": door_id, "rename_name": name}
        return outcome.shown(_page(request, session, user, error=outcome.message, kept=kept))
    renamed = outcome.answer if isinstance(outcome, Replayed) else outcome
    return _page(request, session, user, renamed=renamed)


@router.post("/doors/{door_id}/forget-name")
def forget_a_former_name(
    request: Request, session: SessionDep, user: AdminForm, once: FormOnceDep, door_id: int, name: Name
) -> Response:
    """Drop a former name as `DELETE /doors/{id}/former-names/{name}` does: refused, changing nothing,
    while events were audited under it or when it is not the door's (another admin dropped it meanwhile);
    the same form sent again shows the first sending's notice, not "not a former name"."""
    outcome = change_once(
        session,
        once,
        lambda s: ForgottenName(door=forget_former_door_name(s, door_id, name=name).name, name=name),
        keep=lambda forgotten: Kept(forgotten, status_code=status.HTTP_200_OK),
        kind=ForgottenName,
    )
    if isinstance(outcome, Refusal):
        return outcome.shown(_page(request, session, user, error=outcome.message))
    forgotten = outcome.answer if isinstance(outcome, Replayed) else outcome
    return _page(request, session, user, forgotten=forgotten)


@router.post("/rules")
def add_rule(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    once: FormOnceDep,
    door: Name,
    group_id: Annotated[int, Form()],
    start: Annotated[str, Form(max_length=5)],
    end: Annotated[str, Form(max_length=5)],
    timezone: Annotated[str, Form(max_length=64)] = "UTC",
    weekdays: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A weekly window: the group may pass the door on these days between start and end, local time."""
    form: dict[str, object] = {
        "door": door,
        "group_id": group_id,
        "weekdays": weekdays or [],
        "start": start,
        "end": end,
        "timezone": timezone,
    }
    kept = {"rule": form}
    try:
        rule = DoorRuleCreate.model_validate(form)
    except ValidationError as exc:
        message = "; ".join(error["msg"] for error in exc.errors())
        return _page(
            request, session, user, error=message, status_code=status.HTTP_400_BAD_REQUEST, kept=kept
        )
    return _act(request, session, user, lambda s: create_door_rule(s, rule), kept=kept, once=once)


@router.post("/rules/{rule_id}/delete")
def remove_rule(
    request: Request,
    session: SessionDep,
    user: AdminForm,
    once: FormOnceDep,
    rule_id: int,
    allow_open_doors: AllowOpenDoors = False,
) -> Response:
    return _delete_opening(
        request, session, user, once, delete_door_rule, rule_id, allow_open_doors=allow_open_doors
    )
