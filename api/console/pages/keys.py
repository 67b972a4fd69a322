"""Keys (admin): create a key for any role (its secret shown once, an optional expiry), list, revoke."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.changes import Refusal
from api.console.once import FormOnceDep, Kept, Replayed, change_once
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from storage import (
    ApiKeyPublic,
    InvalidValue,
    NotFound,
    Role,
    Session,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)

router = APIRouter(prefix="/ui/keys", include_in_schema=False)
_MAX_ROWS = 500


def _page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    secret: str | None = None,
    sent_again: ApiKeyPublic | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    response = render(
        request,
        "keys.html",
        user=user,
        status_code=status_code,
        keys=list_api_keys(session, limit=_MAX_ROWS)[0],
        roles=list(Role),
        secret=secret,
        sent_again=sent_again,
        error=error,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("")
def keys_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Every key: id, role, label, created, last used, expiry, revoked."""
    return _page(request, session, user)


@router.post("")
def create_key(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    once: FormOnceDep,
    role: Annotated[Role, Form()],
    label: Annotated[str, Form(min_length=1, max_length=100)],
    valid_through: Annotated[date | None, Form(description="Last UTC day the key works.")] = None,
) -> Response:
    """Create a key; its secret is on this response only (never stored, never shown again). The same form
    sent again creates nothing and names the key its first sending created (its listing is stored, not
    its secret)."""
    expires_at = (
        None if valid_through is None else datetime.combine(valid_through + timedelta(days=1), time(), UTC)
    )

    def create(change_session: Session) -> tuple[str, ApiKeyPublic]:
        return create_api_key(
            change_session, role=role, label=label, now=services.clock(), expires_at=expires_at
        )

    def listing(created: tuple[str, ApiKeyPublic]) -> Kept[ApiKeyPublic]:
        return Kept(created[1], status_code=status.HTTP_201_CREATED)

    try:
        outcome = change_once(session, once, create, keep=listing, kind=ApiKeyPublic)
    except InvalidValue as exc:
        return _page(request, session, user, error=str(exc), status_code=status.HTTP_400_BAD_REQUEST)
    if isinstance(outcome, Refusal):
        return outcome.shown(_page(request, session, user, error=outcome.message))
    if isinstance(outcome, Replayed):
        return _page(request, session, user, sent_again=outcome.answer)
    return _page(request, session, user, secret=outcome[0], status_code=status.HTTP_201_CREATED)


@router.post("/{token_id}/revoke")
def revoke_key(
    request: Request, session: SessionDep, services: ServicesDep, user: AdminForm, token_id: str
) -> Response:
    """Revoke a key: every request with it, console sessions included, is refused from now on."""
    try:
        revoke_api_key(session, token_id, now=services.clock())
    except NotFound as exc:
        return _page(request, session, user, error=str(exc), status_code=status.HTTP_404_NOT_FOUND)
    return RedirectResponse("/ui/keys", status_code=status.HTTP_303_SEE_OTHER)
