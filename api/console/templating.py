"""Jinja2 rendering for the console: autoescaped templates shipped as package data, a role-aware menu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.console.auth import ConsoleUser
from api.console.once import new_form_key
from storage import Role

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class MenuItem:
    """One page in the menu, shown only to the roles that may open it."""

    label: str
    path: str
    roles: frozenset[Role]


MENU = (
    MenuItem("People", "/ui/people", frozenset({Role.admin})),
    MenuItem("Access", "/ui/access", frozenset({Role.admin})),
    MenuItem("Events", "/ui/events", frozenset({Role.admin, Role.auditor})),
    MenuItem("Integrity", "/ui/integrity", frozenset({Role.admin, Role.auditor})),
    MenuItem("Keys", "/ui/keys", frozenset({Role.admin})),
    MenuItem("System", "/ui/system", frozenset({Role.admin, Role.auditor})),
    MenuItem("API", "/ui/docs", frozenset({Role.admin, Role.auditor})),
)


SECURITY_HEADERS = {
    # Scripts and styles only from the console's own static files: no inline code, no other origin.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def home_path(role: Role) -> str:
    """The first page of the menu this role may open."""
    return next(item.path for item in MENU if role in item.roles)


def build_templates() -> Jinja2Templates:
    """Templates from the package's templates/ folder; every variable is HTML-escaped. `form_key()` draws
    a form's one-time key (api/console/once.py)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["form_key"] = new_form_key
    return Jinja2Templates(env=env)


def render(
    request: Request,
    template: str,
    *,
    user: ConsoleUser | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page `template` with the menu of `user`'s role and its CSRF token."""
    templates: Jinja2Templates = request.app.state.console_templates
    menu = [item for item in MENU if user is not None and user.role in item.roles]
    response = templates.TemplateResponse(
        request,
        template,
        {"user": user, "menu": menu, "path": request.url.path, **context},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response
