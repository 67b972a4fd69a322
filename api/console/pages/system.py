"""System (admin, auditor): the model and its calibration, the gallery, door thresholds, gate health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.console.auth import AuditorPage
from api.console.gate_health import gate_health
from api.console.templating import render
from api.deps import ServicesDep, SessionDep, SettingsDep
from api.services import AppServices
from recognition import OperatingThreshold, door_threshold
from storage import EventFilter, count_templates, gallery_version, list_doors, list_people, page_events

router = APIRouter(prefix="/ui/system", include_in_schema=False)


def _policy_threshold(
    services: AppServices, *, fpir_target: float | None, templates: int
) -> OperatingThreshold | str:
    """The threshold the gate's policy sets now (as /identify uses it), or why there is none."""
    recognizer = services.recognizer
    try:
        return door_threshold(
            recognizer.embedder.bundle.calibration,
            default_cos_threshold=recognizer.cos_threshold,
            fpir_target=fpir_target,
            gallery_size=templates,
        )
    except ValueError as exc:
        return str(exc)


@router.get("")
def system_page(
    request: Request, session: SessionDep, services: ServicesDep, settings: SettingsDep, user: AuditorPage
) -> Response:
    """What the system runs now; each door's threshold is the one its gate last decided at."""
    recognizer = services.recognizer
    _, people = list_people(session, limit=1)
    templates = count_templates(session, model_id=recognizer.model_id)
    last_decisions = {
        door.name: page_events(session, where=EventFilter(door=door.name), limit=1)
        for door in list_doors(session)
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
        templates=templates,
        policy=_policy_threshold(services, fpir_target=settings.identify_fpir_target, templates=templates),
        fpir_target=settings.identify_fpir_target,
        gallery_version=gallery_version(session),
        doors={name: events[0] if events else None for name, events in last_decisions.items()},
        gates=gate_health(
            [str(url) for url in settings.gate_health_urls], timeout_s=settings.gate_health_timeout_s
        ),
    )
