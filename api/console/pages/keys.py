"""Keys (admin): create a key for any role (its secret shown once, an optional expiry), list, revoke."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from storage import InvalidValue, NotFound, Role, Session, create_api_key, list_api_keys, revoke_api_key

router = APIRouter(prefix="/ui/keys", include_in_schema=False)
_MAX_ROWS = 500


def _page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    secret: str | None = None,
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
    role: Annotated[Role, Form()],
    label: Annotated[str, Form(min_length=1, max_length=100)],
    valid_through: Annotated[date | None, Form(description="Last UTC day the key works.")] = None,
) -> Response:
    """Create a key; its secret is on this response only (never stored, never shown again)."""
    expires_at = (
        None if valid_through is None else datetime.combine(valid_through + timedelta(days=1), time(), UTC)
    )
    try:
        secret, _ = create_api_key(
            session, role=role, label=label, now=services.clock(), expires_at=expires_at
        )
    except InvalidValue as exc:
        return _page(request, session, user, error=str(exc), status_code=status.HTTP_400_BAD_REQUEST)
    return _page(request, session, user, secret=secret, status_code=status.HTTP_201_CREATED)


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
