"""Integrity of the audit log for auditors: recompute its hash chain (auditor or admin)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AuditorKey, ServicesDep, SessionDep
from api.schemas import ChainReportPublic
from storage import verify_chain

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/verify")
def verify_audit_chain(session: SessionDep, services: ServicesDep, _key: AuditorKey) -> ChainReportPublic:
    """Recompute every link of the audit chain; names the first broken link, if any.

    Reads the whole log in batches, so it takes time proportional to its length.
    """
    return ChainReportPublic.from_report(verify_chain(session, services.keyring))
