"""Integrity of the audit log for auditors: recompute its hash chain, whole or from a signed checkpoint
(auditor or admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from api.deps import AuditorKey, ServicesDep, SessionDep
from api.schemas import ChainReportPublic, ErrorPublic
from storage import Checkpoint, verify_chain, verify_chain_since

router = APIRouter(prefix="/audit", tags=["audit"])
_CHECKPOINT_REFUSED: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "model": ErrorPublic,
        "description": "The log no longer holds the checkpoint's link at its sequence (the event is gone "
        "or has another link): history up to it was rewritten, or the checkpoint is of another database.",
    },
}


@router.get("/verify")
def verify_audit_chain(session: SessionDep, services: ServicesDep, _key: AuditorKey) -> ChainReportPublic:
    """Recompute every link of the audit chain; names the first broken link, if any.

    Reads the whole log in batches, so it takes time proportional to its length.
    """
    return ChainReportPublic.from_report(verify_chain(session, services.keyring))


@router.post("/verify", responses=_CHECKPOINT_REFUSED)
def verify_audit_chain_since(
    checkpoint: Checkpoint, session: SessionDep, services: ServicesDep, _key: AuditorKey
) -> ChainReportPublic:
    """Recompute the links after a signed checkpoint (the body: the JSON `facegate audit checkpoint export`
    or the console wrote); events up to it are not verified, and `not_verified` says so.

    The checkpoint must be signed by a key derived from one of the master keys (else 422, as for one that is
    malformed or whose signature does not match its content), and the log must still hold its link at its
    sequence (else 409), as for `facegate audit verify --since-checkpoint`.
    """
    report = verify_chain_since(session, services.keyring, checkpoint)
    return ChainReportPublic.from_report(report, checkpoint=checkpoint)
