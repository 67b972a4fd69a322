"""Request dependencies as Annotated aliases: services, a database session, the caller's role (F5, I1)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthenticationFailed, Authenticator, TooManyFailures
from api.services import AppServices
from api.settings import ApiSettings
from storage import MAX_DB_INT, ApiKey, AuthFailure, Role, Session, session_scope

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_x_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key, as an alternative header."
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_services(request: Request) -> AppServices:
    """The AppServices that create_app stored on the application."""
    return cast(AppServices, request.app.state.services)


def get_settings(request: Request) -> ApiSettings:
    """The ApiSettings that create_app stored on the application."""
    return cast(ApiSettings, request.app.state.settings)


def get_authenticator(request: Request) -> Authenticator:
    """The Authenticator (with its per-address failure counters) that create_app stored."""
    return cast(Authenticator, request.app.state.authenticator)


ServicesDep = Annotated[AppServices, Depends(get_services)]
AuthenticatorDep = Annotated[Authenticator, Depends(get_authenticator)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One transaction per request: commits when the route returns, rolls back if it raises."""
    with session_scope(services.engine) as session:
        yield session


# scope="function": the commit runs before the response is sent, so a failed commit is never a 2xx.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


_FAILURE_DETAIL = {AuthFailure.revoked: "API key revoked", AuthFailure.expired: "API key expired"}


def get_api_key(
    request: Request,
    authenticator: AuthenticatorDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_api_key: Annotated[str | None, Depends(_x_api_key)],
) -> ApiKey:
    """The key that authenticates this request, checked in its own short transaction.

    Raises:
        HTTPException: 401 with a WWW-Authenticate challenge when the key is missing, invalid, revoked
            or expired; 429 with Retry-After when this client address failed too often.
    """
    token = bearer.credentials if bearer is not None else x_api_key
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key", headers=_CHALLENGE)
    client = request.client.host if request.client is not None else "unknown"
    try:
        return authenticator.authenticate(token, client=client)
    except TooManyFailures as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc), headers=headers) from exc
    except AuthenticationFailed as exc:
        detail = _FAILURE_DETAIL.get(exc.failure, "invalid API key")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers=_CHALLENGE) from exc


def require_role(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    """A dependency that admits only keys with one of `roles`; others get 403."""
    allowed = frozenset(roles)

    def check(key: Annotated[ApiKey, Depends(get_api_key)]) -> ApiKey:
        if key.role not in allowed:
            logger.info("key %s with role %s refused (needs %s)", key.key_id, key.role, sorted(allowed))
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this route needs the role {' or '.join(sorted(allowed))}"
            )
        return key

    return check


AnyKey = Annotated[ApiKey, Depends(get_api_key)]
AdminKey = Annotated[ApiKey, Depends(require_role(Role.admin))]
AuditorKey = Annotated[ApiKey, Depends(require_role(Role.auditor, Role.admin))]
DeviceKey = Annotated[ApiKey, Depends(require_role(Role.device, Role.admin))]

RowId = Annotated[int, Path(ge=1, le=MAX_DB_INT, description="Row id.")]
Offset = Annotated[int, Query(ge=0, le=MAX_DB_INT, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=500, description="Most items to return (at most 500).")]
