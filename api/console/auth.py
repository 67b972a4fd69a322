"""Console dependencies: the signed-in key from the session cookie, its role, and each form's CSRF token.

No `from __future__ import annotations` here: the role checks are closures, and FastAPI must see their
`Depends(...)` annotations as objects, not as strings naming local variables.
"""

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Form, Request

from api.console.cookies import read_cookie
from api.console.session import SESSION_COOKIE, SessionSigner
from api.deps import ServicesDep, SessionDep
from storage import Role, find_api_key, is_console_session_ended

logger = logging.getLogger(__name__)


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


class ConsoleForbidden(Exception):
    """The signed-in role may not open this page or send this form (403); the page keeps its menu."""

    def __init__(self, message: str, *, user: "ConsoleUser") -> None:
        self.message = message
        self.user = user
        super().__init__(message)


@dataclass(frozen=True)
class ConsoleUser:
    """The API key a console session belongs to, and the CSRF token its forms carry."""

    key_id: str
    role: Role
    label: str
    csrf_token: str
    session_nonce: str
    """Names the session for sign-out (storage.end_console_session)."""
    session_expires_at_s: int


def get_signer(request: Request) -> SessionSigner:
    """The SessionSigner that include_console stored on the application."""
    return cast(SessionSigner, request.app.state.console_signer)


SignerDep = Annotated[SessionSigner, Depends(get_signer)]


def signed_in(request: Request, session: SessionDep, services: ServicesDep, signer: SignerDep) -> ConsoleUser:
    """The session's key, looked up again on every request so that a revoked key's session ends.

    Raises:
        SignInRequired: no cookie, a forged or expired one, a signed-out one, or its key was revoked or
            has expired.
    """
    cookie = read_cookie(request, SESSION_COOKIE)  # over HTTPS only the __Host- one (api/console/cookies.py)
    claims = signer.claims(cookie, now_s=time.time()) if cookie else None
    if cookie is None or claims is None:
        raise SignInRequired
    key = find_api_key(session, claims.key_id, now=services.clock())
    if key is None or not signer.verify(cookie, key_digest=key.secret_sha256):
        logger.info("console session of key %s refused", claims.key_id)
        raise SignInRequired
    if is_console_session_ended(session, claims.nonce):
        logger.info("signed-out console session of key %s refused", claims.key_id)
        raise SignInRequired
    return ConsoleUser(
        key_id=key.key_id,
        role=key.role,
        label=key.label,
        csrf_token=signer.csrf_token(claims.nonce),
        session_nonce=claims.nonce,
        session_expires_at_s=claims.expires_at_s,
    )


def page_role(*roles: Role) -> Callable[[ConsoleUser], ConsoleUser]:
    """A dependency admitting only sessions whose key has one of `roles`; others get a 403 page."""
    allowed = frozenset(roles)

    def check(user: Annotated[ConsoleUser, Depends(signed_in)]) -> ConsoleUser:
        if user.role not in allowed:
            raise ConsoleForbidden(f"This page needs the role {' or '.join(sorted(allowed))}.", user=user)
        return user

    return check


def form_role(*roles: Role) -> Callable[[ConsoleUser, str], ConsoleUser]:
    """Like `page_role`, for a posted form: its `csrf_token` field must be the session's token."""
    page_check = page_role(*roles)

    def check(
        user: Annotated[ConsoleUser, Depends(page_check)],
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> ConsoleUser:
        if not hmac.compare_digest(csrf_token.encode(), user.csrf_token.encode()):
            message = "The form is out of date or was not sent by this console; reload the page."
            raise ConsoleForbidden(message, user=user)
        return user

    return check


AdminPage = Annotated[ConsoleUser, Depends(page_role(Role.admin))]
AuditorPage = Annotated[ConsoleUser, Depends(page_role(Role.auditor, Role.admin))]
AdminForm = Annotated[ConsoleUser, Depends(form_role(Role.admin))]
AuditorForm = Annotated[ConsoleUser, Depends(form_role(Role.auditor, Role.admin))]
SignedInPage = Annotated[ConsoleUser, Depends(page_role(Role.admin, Role.auditor))]
SignedInForm = Annotated[ConsoleUser, Depends(form_role(Role.admin, Role.auditor))]
