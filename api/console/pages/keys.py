"""Keys (admin): create a key for any role (its secret shown once), list keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import Response

from api.console.auth import AdminForm, AdminPage, ConsoleUser
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from storage import Role, Session, create_api_key, list_api_keys

router = APIRouter(prefix="/ui/keys", include_in_schema=False)


def _page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    secret: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "keys.html",
        user=user,
        status_code=status_code,
        keys=list_api_keys(session, limit=500)[0],
        roles=list(Role),
        secret=secret,
    )


@router.get("")
def keys_page(request: Request, session: SessionDep, user: AdminPage) -> Response:
    """Every key: id, role, label, dates."""
    return _page(request, session, user)


@router.post("")
def create_key(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminForm,
    role: Annotated[Role, Form()],
    label: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    """Create a key; its secret is on this response only (never stored, never shown again)."""
    secret, _ = create_api_key(session, role=role, label=label, now=services.clock())
    response = _page(request, session, user, secret=secret, status_code=status.HTTP_201_CREATED)
    response.headers["Cache-Control"] = "no-store"
    return response
