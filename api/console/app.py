"""Attach the console to the API application: its routers, static files, signer and error pages."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console.auth import ConsoleForbidden, SignInRequired
from api.console.cookies import delete_cookie
from api.console.pages import access, api_docs, events, integrity, keys, people, signin, system
from api.console.session import SESSION_COOKIE, SessionSigner
from api.console.templating import PACKAGE_DIR, build_templates, render
from api.settings import ApiSettings

logger = logging.getLogger(__name__)

CONSOLE_PATH = "/ui"
"""Where the console's pages are; the API's error answers there are pages too (error_page)."""
STATIC_PATH = "/ui/static"
"""Stylesheet and script of the console; the only console path served without a session."""


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    response = RedirectResponse("/ui/login", status_code=status.HTTP_303_SEE_OTHER)
    delete_cookie(request, response, SESSION_COOKIE)
    return response


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleForbidden)
    return render(
        request, "forbidden.html", user=exc.user, status_code=status.HTTP_403_FORBIDDEN, message=exc.message
    )


_HEADINGS = {
    status.HTTP_404_NOT_FOUND: "Not found",
    status.HTTP_409_CONFLICT: "Conflict",
    status.HTTP_413_CONTENT_TOO_LARGE: "Too large",
    status.HTTP_422_UNPROCESSABLE_CONTENT: "Not accepted",
    status.HTTP_503_SERVICE_UNAVAILABLE: "Unavailable",
}


def error_page(
    request: Request, status_code: int, message: str, retry_after_s: int | None, status_word: str | None
) -> Response:
    """An answer of the API's error table as a console page, with the message the API would give and no
    menu (the session cannot be checked while the database is down); api/errors.py adds Retry-After.
    `status_word` (the API body's `status`: `database_unavailable`, `schema_missing`, ...) goes into the
    page's `data-error-status`, where the live refresh (console.js) reads what is wrong."""
    heading = _HEADINGS.get(status_code, "Error")
    if status_word == "audit_event_unreadable":
        heading = "An audit event cannot be read"
    return render(
        request,
        "error.html",
        user=None,
        status_code=status_code,
        heading=heading,
        message=message,
        retry_after_s=retry_after_s,
        status_word=status_word,
    )


def include_console(app: FastAPI, settings: ApiSettings) -> None:
    """Serve the console under /ui on `app`."""
    if settings.session_secret is None:
        logger.warning("FACEGATE_API_SESSION_SECRET is unset: console sessions end when the server restarts")
        secret = secrets.token_bytes(32)
    else:
        secret = settings.session_secret.get_secret_value().encode()
    app.state.console_signer = SessionSigner(secret)
    app.state.console_templates = build_templates()
    for module in (signin, people, access, events, integrity, keys, system, api_docs):
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=PACKAGE_DIR / "static"), name="console-static")
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(ConsoleForbidden, _forbidden)
