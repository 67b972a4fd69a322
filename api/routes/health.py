"""Liveness and readiness: the only routes without authentication; they disclose nothing but a status word."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.errors import (
    DATABASE_RETRY_AFTER_S,
    READINESS_KEYRING_RULE,
    log_passing_error,
    retry_after_s,
    rule_for,
)
from api.schemas import ReadinessPublic, StatusPublic
from enrollment import GalleryLoadFailed
from storage import DatabaseUnavailable, KeyringError, SchemaMissing, gallery_version, session_scope

router = APIRouter(tags=["health"])

UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz"})
"""Every route outside this set requires an API key; the role-matrix test checks it."""


@router.get("/healthz")
def healthz() -> StatusPublic:
    """Liveness: the process answers HTTP (also while its gallery loads: restarting would not help)."""
    return StatusPublic(status="ok")


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": ReadinessPublic,
            "description": "Not ready, see Retry-After: the gallery is `loading`, or its last load `failed` "
            "and is retried after a backoff, or the database cannot be reached (`database_unavailable`); or, "
            "without Retry-After, the database lacks the schema this server needs (`schema_missing`), or "
            "this server's master keys cannot read what is stored (`keyring_error`: a wrong or missing "
            "master key).",
        }
    },
)
def readyz(request: Request, services: ServicesDep) -> ReadinessPublic | JSONResponse:
    """Readiness: the database answers a query and the shared gallery is loaded (503 otherwise).

    A replica answers /identify only once its gallery is loaded; until then a load balancer should send
    its traffic elsewhere. A later reload keeps it ready while /identify answers from the last gallery,
    but not after a restore, when the change log cannot say who was removed since that gallery and
    /identify answers 503 until the reload is done: ready means /identify can answer.
    """
    try:  # a session of its own: the request's would report an unreachable database after the route
        with session_scope(services.engine) as session:
            gallery_version(session)
            waiting = services.gallery.readiness(session)
    except DatabaseUnavailable as exc:
        # Probes come every second or so: one line per interval, shared with every other route's 503.
        log_passing_error(request, exc)
        return _not_ready(ReadinessPublic(status="database_unavailable"), wait_s=DATABASE_RETRY_AFTER_S)
    except SchemaMissing as exc:
        log_passing_error(request, exc)
        return _not_ready(ReadinessPublic(status="schema_missing"), wait_s=None)
    except KeyringError as exc:  # the gallery met a template its keys cannot open (a delta in this request)
        log_passing_error(request, exc, rule=READINESS_KEYRING_RULE)
        return _not_ready(ReadinessPublic(status="keyring_error"), wait_s=None)
    if waiting is None:
        return ReadinessPublic(status="ready")
    rule = rule_for(waiting)
    assert rule is not None, "ERROR_TABLE lists GalleryLoading"
    wait_s = retry_after_s(waiting, rule)
    assert wait_s is not None, "GalleryLoading's rule has a Retry-After"
    failed = isinstance(waiting, GalleryLoadFailed)
    return _not_ready(ReadinessPublic(status="failed" if failed else "loading"), wait_s=wait_s)


def _not_ready(body: ReadinessPublic, *, wait_s: int | None) -> JSONResponse:
    return JSONResponse(
        body.model_dump(),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={} if wait_s is None else {"Retry-After": str(wait_s)},
    )
