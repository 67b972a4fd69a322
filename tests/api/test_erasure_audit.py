"""An erasure is recorded in the audit log (who, when, the person's id; no template), on every surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import (
    ERASURE_DOOR,
    PERSON_ERASED,
    TEMPLATE_ERASED,
    AuditEventPublic,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    Role,
    query_events,
    session_scope,
    verify_chain,
)
from tests.api.conftest import ApiHarness, make_services, make_tokens, wait_for_gallery
from tests.api.test_console import sign_in

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def api_at_now(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> Iterator[ApiHarness]:
    """The `api` harness with its clock at NOW."""
    services = make_services(engine, keyring, recognizer, clock=lambda: NOW)
    tokens = make_tokens(engine)
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)
        yield ApiHarness(client=client, services=services, tokens=tokens)


def _erasures(api: ApiHarness) -> list[AuditEventPublic]:
    with session_scope(api.services.engine) as session:
        events, _ = query_events(session, where=EventFilter(door=ERASURE_DOOR), limit=100)
        assert verify_chain(session, api.services.keyring).is_ok
    return sorted(events, key=lambda event: event.sequence)


def _enrolled(api: ApiHarness, name: str, photo: bytes) -> tuple[int, str]:
    """A person with one template: their id and the template's."""
    admin = api.auth(Role.admin)
    person_id = api.create_person(name)
    files = [("photos", (f"{name}.jpg", photo, "image/jpeg"))]
    assert api.client.post(f"/people/{person_id}/faces", files=files, headers=admin).status_code == 201
    (template,) = api.client.get(f"/people/{person_id}/templates", headers=admin).json()["items"]
    return person_id, template["id"]


def _admin_key_id(api: ApiHarness) -> str:
    return api.tokens[Role.admin].split("_")[1]


def test_each_api_erasure_is_recorded_with_its_key_and_time_and_a_refused_one_is_not(
    api_at_now: ApiHarness, group_faces: list[bytes]
) -> None:
    api, admin = api_at_now, api_at_now.auth(Role.admin)
    ann, ann_template = _enrolled(api, "Ann", group_faces[0])
    bob, bob_template = _enrolled(api, "Bob", group_faces[1])
    cid, _ = _enrolled(api, "Cid", group_faces[2])
    key = f"API key test admin ({_admin_key_id(api)})"

    assert api.client.delete(f"/people/{ann}/templates/{bob_template}", headers=admin).status_code == 404
    assert api.client.delete(f"/people/{ann}/templates/{ann_template}", headers=admin).status_code == 204
    assert api.client.delete(f"/people/{bob}", headers=admin).status_code == 204
    assert api.client.delete(f"/people/{bob}", headers=admin).status_code == 404
    report = api.client.post(f"/people/{cid}/erase", headers=admin)
    assert report.status_code == 200 and report.json()["audit_events_kept"] == 1  # its own event
    assert api.client.post(f"/people/{cid}/erase", headers=admin).status_code == 404

    recorded = [(e.person_id, e.reason, e.source, e.decision, e.occurred_at) for e in _erasures(api)]
    assert recorded == [
        (ann, TEMPLATE_ERASED, f"{key}; template {ann_template}", Decision.recorded, NOW),
        (bob, PERSON_ERASED, key, Decision.recorded, NOW),
        (cid, PERSON_ERASED, key, Decision.recorded, NOW),
    ]
    assert all(e.model_id == "-" and e.score is None for e in _erasures(api))


def test_a_console_erasure_is_recorded_with_the_sessions_key(
    api_at_now: ApiHarness, group_faces: list[bytes]
) -> None:
    api = api_at_now
    ann, ann_template = _enrolled(api, "Ann", group_faces[0])
    bob, _ = _enrolled(api, "Bob", group_faces[1])
    csrf = sign_in(api.client, api.tokens[Role.admin])
    key = f"console key test admin ({_admin_key_id(api)})"

    deleted = api.client.post(f"/ui/people/{ann}/templates/{ann_template}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 200, deleted.text
    erased = api.client.post(f"/ui/people/{bob}/delete", data={"csrf_token": csrf})
    assert erased.status_code == 200 and "Audit events kept" in erased.text

    recorded = [(e.person_id, e.reason, e.source, e.occurred_at) for e in _erasures(api)]
    assert recorded == [
        (ann, TEMPLATE_ERASED, f"{key}; template {ann_template}", NOW),
        (bob, PERSON_ERASED, key, NOW),
    ]
