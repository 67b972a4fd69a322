"""Sign in with an API key, sign out; `/ui` opens the first page the role may see."""

from __future__ import annotations

import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import AuthenticationFailed, TooManyFailures
from api.console.auth import SignedInForm, SignedInPage, SignerDep
from api.console.cookies import delete_cookie, read_cookie, set_cookie
from api.console.session import LOGIN_COOKIE, SESSION_COOKIE
from api.console.templating import home_path, render
from api.deps import AuthenticatorDep, ServicesDep, SessionDep, SettingsDep
from storage import AuthFailure, Role, end_console_session

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/ui", include_in_schema=False)
_LOGIN_FORM_TTL_S = 1800
_CONSOLE_ROLES = frozenset({Role.admin, Role.auditor})
"""Who may sign in: a device key is refused, and that refusal is audited like a wrong key."""


def _login_page(request: Request, signer: SignerDep, *, error: str | None, status_code: int) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "signin.html",
        user=None,
        status_code=status_code,
        error=error,
        csrf_token=signer.csrf_token(nonce),
    )
    set_cookie(request, response, LOGIN_COOKIE, nonce, max_age_s=_LOGIN_FORM_TTL_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, signer: SignerDep) -> Response:
    """The sign-in form."""
    return _login_page(request, signer, error=None, status_code=status.HTTP_200_OK)


@router.post("/login")
def login(
    request: Request,
    authenticator: AuthenticatorDep,
    signer: SignerDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Exchange an admin or auditor API key for a session cookie."""
    nonce = read_cookie(request, LOGIN_COOKIE) or ""
    if not nonce or not signer.is_csrf_valid(nonce, csrf_token):
        return _login_page(
            request, signer, error="The form expired; try again.", status_code=status.HTTP_403_FORBIDDEN
        )
    client = request.client.host if request.client is not None else "unknown"
    try:
        key = authenticator.authenticate(api_key.strip(), client=client, roles=_CONSOLE_ROLES)
    except TooManyFailures as exc:
        return _login_page(request, signer, error=f"{exc}.", status_code=status.HTTP_429_TOO_MANY_REQUESTS)
    except AuthenticationFailed as exc:
        is_device = exc.failure == AuthFailure.wrong_role
        logger.info("console sign-in refused (%s)", "device key" if is_device else "invalid key")
        error = "Device keys cannot use the console." if is_device else "That API key is not valid."
        return _login_page(request, signer, error=error, status_code=status.HTTP_401_UNAUTHORIZED)
    cookie = signer.issue(
        key_id=key.key_id,
        key_digest=key.secret_sha256,
        now_s=time.time(),
        lifetime_s=settings.session_lifetime_s,
    )
    response = RedirectResponse(home_path(key.role), status_code=status.HTTP_303_SEE_OTHER)
    set_cookie(request, response, SESSION_COOKIE, cookie, max_age_s=settings.session_lifetime_s)
    delete_cookie(request, response, LOGIN_COOKIE)
    logger.info("console session started for key %s", key.key_id)
    return response


@router.post("/logout")
def logout(request: Request, user: SignedInForm, session: SessionDep, services: ServicesDep) -> Response:
    """End the session: recorded as ended (a copy of the cookie is refused too), and the cookie deleted."""
    end_console_session(
        session,
        key_id=user.key_id,
        nonce=user.session_nonce,
        expires_at=datetime.fromtimestamp(user.session_expires_at_s, UTC),
        now=services.clock(),
    )
    logger.info("console session of key %s signed out", user.key_id)
    response = RedirectResponse("/ui/login", status_code=status.HTTP_303_SEE_OTHER)
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("")
def home(user: SignedInPage) -> Response:
    """The first page the signed-in role may open."""
    return RedirectResponse(home_path(user.role), status_code=status.HTTP_303_SEE_OTHER)
