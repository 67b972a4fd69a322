"""The console's cookies: `__Host-` prefixed over HTTPS, so no sibling subdomain can plant one.

A browser keeps a `__Host-` cookie only when it is Secure, has Path=/ and no Domain, so it was set by this
very host over HTTPS: a cookie planted from another subdomain of the same site (`Domain=.example.com`,
which a plain name would accept, and send ahead of this host's own) cannot take its name. Over plain HTTP
(development on localhost) no Secure cookie can be set, so the plain name and Path=/ui are used, as
before; a request over HTTPS reads only the prefixed name, so a plain-named cookie is never a session there.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

HOST_PREFIX = "__Host-"
_CONSOLE_PATH = "/ui"


def _is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, name: str) -> str:
    """The name the cookie `name` has on this request's scheme: prefixed over HTTPS."""
    return f"{HOST_PREFIX}{name}" if _is_https(request) else name


def read_cookie(request: Request, name: str) -> str | None:
    """The cookie `name` this request sent under its scheme's name; None when absent."""
    return request.cookies.get(cookie_name(request, name))


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age_s: int) -> None:
    """Set the cookie `name` (HttpOnly, SameSite=Strict; over HTTPS `__Host-`, Secure, Path=/)."""
    is_https = _is_https(request)
    response.set_cookie(
        cookie_name(request, name),
        value,
        max_age=max_age_s,
        path="/" if is_https else _CONSOLE_PATH,
        httponly=True,
        samesite="strict",
        secure=is_https,
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    """Delete the cookie `name` as `set_cookie` set it (a `__Host-` deletion must be Secure, Path=/ too)."""
    is_https = _is_https(request)
    response.delete_cookie(
        cookie_name(request, name),
        path="/" if is_https else _CONSOLE_PATH,
        secure=is_https,
        httponly=True,
        samesite="strict",
    )
