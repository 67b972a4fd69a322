"""Liveness and readiness: the only routes without authentication; they disclose nothing but a status word."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.deps import ServicesDep, SessionDep
from api.errors import retry_after_s, rule_for
from api.schemas import ErrorPublic, StatusPublic
from enrollment import GalleryLoadFailed
from storage import gallery_version

router = APIRouter(tags=["health"])

UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz"})
"""Every route outside this set requires an API key; the role-matrix test checks it."""


@router.get("/healthz")
def healthz() -> StatusPublic:
    """Liveness: the process answers HTTP (also while its gallery loads: restarting would not help)."""
    return StatusPublic(status="ok")


@router.get(
    "/readyz",
    response_model=StatusPublic,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": StatusPublic | ErrorPublic,
            "description": "Not ready, see Retry-After: the gallery is `loading`, or its last load `failed` "
            "and is retried after a backoff; or the database is unreachable (`detail`).",
        }
    },
)
def readyz(session: SessionDep, services: ServicesDep) -> StatusPublic | JSONResponse:
    """Readiness: the database answers a query and the shared gallery is loaded (503 otherwise).

    A replica answers /identify only once its gallery is loaded; until then a load balancer should send
    its traffic elsewhere. A later reload keeps it ready while /identify answers from the last gallery,
    but not after a restore, when the change log cannot say who was removed since that gallery and
    /identify answers 503 until the reload is done: ready means /identify can answer.
    """
    gallery_version(session)
    waiting = services.gallery.readiness(session)
    if waiting is None:
        return StatusPublic(status="ready")
    rule = rule_for(waiting)
    assert rule is not None, "ERROR_TABLE lists GalleryLoading"
    word = "failed" if isinstance(waiting, GalleryLoadFailed) else "loading"
    return JSONResponse(
        StatusPublic(status=word).model_dump(),
        status_code=rule.status_code,
        headers={"Retry-After": str(retry_after_s(waiting, rule))},
    )
