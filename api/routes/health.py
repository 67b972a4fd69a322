"""Liveness and readiness: the only routes without authentication; they disclose nothing but a status word."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import SessionDep
from api.schemas import ErrorPublic, StatusPublic
from storage import gallery_version

router = APIRouter(tags=["health"])

UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz"})
"""Every route outside this set requires an API key; the role-matrix test checks it."""


@router.get("/healthz")
def healthz() -> StatusPublic:
    """Liveness: the process answers HTTP."""
    return StatusPublic(status="ok")


@router.get(
    "/readyz",
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ErrorPublic, "description": "Database unreachable."}
    },
)
def readyz(session: SessionDep) -> StatusPublic:
    """Readiness: the database answers a query (503 otherwise)."""
    gallery_version(session)
    return StatusPublic(status="ready")
