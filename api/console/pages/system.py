"""System (admin, auditor): the model and its calibration, the gallery, door thresholds, gate health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console.auth import AuditorPage
from api.console.gate_health import gate_health
from api.console.templating import render
from api.deps import ServicesDep, SessionDep, SettingsDep
from storage import gallery_version, list_doors, list_people, query_events

router = APIRouter(prefix="/ui/system", include_in_schema=False)


@router.get("")
def system_page(
    request: Request, session: SessionDep, services: ServicesDep, settings: SettingsDep, user: AuditorPage
) -> Response:
    """What the system runs now; each door's threshold is the one its gate last decided at."""
    recognizer = services.recognizer
    _, people = list_people(session, limit=1)
    last_decisions = {
        door.name: query_events(session, door=door.name, limit=1)[0] for door in list_doors(session)
    }
    return render(
        request,
        "system.html",
        user=user,
        model_id=recognizer.model_id,
        weights_sha256=recognizer.weights_sha256,
        cos_threshold=recognizer.cos_threshold,
        calibration=recognizer.embedder.bundle.calibration,
        people=people,
        gallery_version=gallery_version(session),
        doors={name: events[0] if events else None for name, events in last_decisions.items()},
        gates=gate_health(
            [str(url) for url in settings.gate_health_urls], timeout_s=settings.gate_health_timeout_s
        ),
    )
