"""Integrity (auditor, admin): recompute the audit log's hash chain; download a signed checkpoint."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from api.console.auth import AuditorForm, AuditorPage
from api.console.templating import render
from api.deps import ServicesDep, SessionDep
from api.schemas import ChainReportPublic
from storage import ChainBroken, export_checkpoint, verify_chain

router = APIRouter(prefix="/ui/integrity", include_in_schema=False)


@router.get("")
def integrity_page(request: Request, user: AuditorPage) -> Response:
    """The two actions, before either has run."""
    return render(request, "integrity.html", user=user, report=None, error=None)


@router.post("/verify")
def verify(request: Request, session: SessionDep, services: ServicesDep, user: AuditorForm) -> Response:
    """Recompute every link and show the verdict (the first broken link, if any)."""
    report = ChainReportPublic.from_report(verify_chain(session, services.keyring))
    return render(request, "integrity.html", user=user, report=report, error=None)


@router.post("/checkpoint")
def checkpoint(request: Request, session: SessionDep, services: ServicesDep, user: AuditorForm) -> Response:
    """The signed checkpoint of the chain's last event, as a JSON download (refused if the chain breaks)."""
    now = datetime.now(UTC)
    try:
        signed = export_checkpoint(session, services.keyring, now=now)
    except ChainBroken as exc:
        return render(
            request,
            "integrity.html",
            user=user,
            report=None,
            error=str(exc),
            status_code=status.HTTP_409_CONFLICT,
        )
    filename = f"facegate-checkpoint-{signed.sequence}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    return Response(
        signed.to_json(),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
