"""/api-keys: keys for every role, revocation and expiry at once (a waiting device sync included), failures
limited and audited."""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.routes.devices import MAX_WAIT_S
from api.settings import ApiSettings
from recognition import Recognizer
from storage import (
    Engine,
    EventFilter,
    Keyring,
    Role,
    bump_gallery_version,
    generate_device_key_pair,
    list_api_keys,
    query_events,
    revoke_api_key,
    session_scope,
)
from tests.api.conftest import ApiHarness, make_services, make_tokens, wait_for_gallery


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(api: ApiHarness, **body: object) -> dict[str, object]:
    response = api.client.post("/api-keys", json=body, headers=api.auth(Role.admin))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_an_admin_creates_an_auditor_key_that_reads_events_only(api: ApiHarness) -> None:
    created = _create(api, role="auditor", label="Audrey, internal audit")
    token = str(created["token"])
    assert token.startswith(f"fg_{created['token_id']}_") and created["revoked_at"] is None

    assert api.client.get("/events", headers=_bearer(token)).status_code == 200
    assert api.client.get("/people", headers=_bearer(token)).status_code == 403

    listed = api.client.get("/api-keys", headers=api.auth(Role.admin)).json()
    mine = [key for key in listed["items"] if key["token_id"] == created["token_id"]]
    assert listed["total"] == len(Role) + 1 and len(mine) == 1
    assert mine[0]["role"] == "auditor" and mine[0]["last_used_at"] is not None
    assert token.split("_", 2)[2] not in str(listed) and "token" not in mine[0]


def test_a_revoked_key_gets_401_at_its_next_request_and_it_is_audited(api: ApiHarness) -> None:
    created = _create(api, role="device", label="door 3")
    token = str(created["token"])
    assert api.client.post("/identify", headers=_bearer(token)).status_code == 422  # in, but no photo

    revoked = api.client.post(f"/api-keys/{created['token_id']}/revoke", headers=api.auth(Role.admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = api.client.post("/identify", headers=_bearer(token))
    assert refused.status_code == 401 and refused.json()["detail"] == "API key revoked"

    with session_scope(api.services.engine) as session:
        events, total = query_events(session, where=EventFilter(door="api"))
    assert total == 1 and events[0].reason == "api_key_revoked" and events[0].decision == "denied"
    assert events[0].source == f"testclient token {created['token_id']}"
    assert token.split("_", 2)[2] not in events[0].model_dump_json()


def test_revoking_with_the_cli_stops_a_running_server_at_once(
    api: ApiHarness, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = str(_create(api, role="auditor", label="to revoke")["token"])
    assert api.client.get("/events", headers=_bearer(token)).status_code == 200
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)

    result = CliRunner().invoke(cli_app, ["apikeys", "revoke", token.split("_")[1]])

    assert result.exit_code == 0, result.output
    assert api.client.get("/events", headers=_bearer(token)).status_code == 401


def test_an_expired_key_gets_401_at_once(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> None:
    now = [datetime.now(UTC)]
    services = make_services(engine, keyring, recognizer, clock=lambda: now[0])
    admin = make_tokens(engine)[Role.admin]
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        expires_at = (now[0] + timedelta(hours=1)).isoformat()
        body = {"role": "auditor", "label": "temp", "expires_at": expires_at}
        token = client.post("/api-keys", json=body, headers=_bearer(admin)).json()["token"]
        assert client.get("/events", headers=_bearer(token)).status_code == 200
        now[0] += timedelta(hours=1)
        refused = client.get("/events", headers=_bearer(token))
    assert refused.status_code == 401 and refused.json()["detail"] == "API key expired"


@pytest.mark.parametrize(
    "body",
    [
        {"role": "auditor", "label": "late", "expires_at": "2000-01-01T00:00:00Z"},
        {"role": "auditor", "label": "naive", "expires_at": "2999-01-01T00:00:00"},
        {"role": "root", "label": "no such role"},
        {"role": "auditor", "label": ""},
    ],
    ids=["past", "no-zone", "role", "empty-label"],
)
def test_bad_key_requests_are_422(api: ApiHarness, body: dict[str, str]) -> None:
    response = api.client.post("/api-keys", json=body, headers=api.auth(Role.admin))
    assert response.status_code == 422, response.text


def test_revoking_an_unknown_key_is_404(api: ApiHarness) -> None:
    assert api.client.post("/api-keys/nosuchkey/revoke", headers=api.auth(Role.admin)).status_code == 404


def test_failed_authentications_are_limited_per_address(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    services = make_services(engine, keyring, recognizer)
    admin = make_tokens(engine)[Role.admin]
    app = create_app(services, settings=ApiSettings(auth_max_failures=3, auth_failure_window_s=600))
    wrong = _bearer(admin[:-2] + "xx")
    with TestClient(app, client=("203.0.113.7", 40000)) as attacker, TestClient(app) as neighbour:
        statuses = [attacker.get("/events", headers=wrong).status_code for _ in range(4)]
        served = attacker.get("/events", headers=_bearer(admin))
        still_blocked = attacker.get("/events", headers=wrong)
        elsewhere = neighbour.get("/events", headers=_bearer(admin))

    assert statuses == [401, 401, 401, 429]
    assert served.status_code == 200  # a valid key is served from an address over the limit
    assert still_blocked.status_code == 429  # and does not reset the address's count
    assert 1 <= int(still_blocked.headers["retry-after"]) <= 600
    assert elsewhere.status_code == 200
    with session_scope(engine) as session:
        events, total = query_events(session, where=EventFilter(door="api"))
    assert total == 3 and {event.reason for event in events} == {"api_key_wrong_secret"}
    assert all(event.source.startswith("203.0.113.7 token ") for event in events)
    assert not [event for event in events if admin.split("_", 2)[2][:8] in event.model_dump_json()]


def test_a_flood_over_the_failure_limit_logs_a_line_per_interval_not_per_request(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, caplog: pytest.LogCaptureFixture
) -> None:
    """Each 429 of the failure limit logged a warning line, so a steady attacker wrote one line a request;
    now one line per 10 s on the app's monotonic clock, from any address, the next counting those left out."""
    now_s = [0.0]
    services = replace(make_services(engine, keyring, recognizer), monotonic=lambda: now_s[0])
    admin = make_tokens(engine)[Role.admin]
    app = create_app(services, settings=ApiSettings(auth_max_failures=1, auth_failure_window_s=600))
    wrong = _bearer(admin[:-2] + "xx")
    first = TestClient(app, client=("203.0.113.7", 40000))
    second = TestClient(app, client=("198.51.100.9", 40000))
    with first, second, caplog.at_level(logging.WARNING, logger="api.auth"):
        statuses = [client.get("/events", headers=wrong).status_code for client in (first, second) * 6]
        burst = [record.getMessage() for record in caplog.records if record.name == "api.auth"]
        now_s[0] += 9.9
        statuses.append(first.get("/events", headers=wrong).status_code)
        now_s[0] += 0.1
        statuses.append(second.get("/events", headers=wrong).status_code)
    lines = [record.getMessage() for record in caplog.records if record.name == "api.auth"]

    assert statuses == [401, 401] + [429] * 12
    assert burst == ["client 203.0.113.7 over the failed-authentication limit"]
    assert lines == [
        "client 203.0.113.7 over the failed-authentication limit",
        "client 198.51.100.9 over the failed-authentication limit (10 more since the last such line)",
    ]


def test_a_gate_behind_the_address_of_failing_keys_still_syncs(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """An edge gate behind the same NAT or proxy as a client sending wrong keys (a misconfigured script,
    an attacker on the site's network) registers, syncs its gallery and posts its events; the wrong keys,
    its own id with a wrong secret among them, get 429 once over the limit."""
    services = make_services(engine, keyring, recognizer)
    device = make_tokens(engine)[Role.device]
    app = create_app(services, settings=ApiSettings(auth_max_failures=3, auth_failure_window_s=600))
    public_key = base64.b64encode(generate_device_key_pair().public_key).decode()
    wrongs = [_bearer("fg_0123456789abcdef_wrong"), _bearer(device[:-2] + "xx"), {"X-API-Key": "junk"}]
    with TestClient(app, client=("192.0.2.10", 40000)) as site:
        wait_for_gallery(services)
        refused = [site.get("/events", headers=wrong).status_code for wrong in wrongs + wrongs]
        answers = [
            site.post("/devices/register", json={"x25519_public_key": public_key}, headers=_bearer(device)),
            site.post("/devices/gallery", json={"model_id": recognizer.model_id}, headers=_bearer(device)),
            site.post("/devices/events", json={"events": []}, headers=_bearer(device)),
        ]
        after = [site.post("/devices/events", json={"events": []}, headers=wrong) for wrong in wrongs]

    assert refused == [401, 401, 401, 429, 429, 429]
    assert [answer.status_code for answer in answers] == [200, 200, 200], [a.text for a in answers]
    assert [answer.status_code for answer in after] == [429, 429, 429]
    assert all("too many failed authentications" in answer.json()["detail"] for answer in after)


def _revoke_once_it_authenticated(engine: Engine, key_id: str, at: datetime, errors: list[str]) -> None:
    """Revoke the key and change the gallery once the waiting request has recorded its use at `at` (its
    authentication passed), so that the request learns of both only from the database."""
    deadline_s = time.monotonic() + 60
    while time.monotonic() < deadline_s:
        with session_scope(engine) as session:
            keys, _ = list_api_keys(session, limit=1000)
            used_at = next(key.last_used_at for key in keys if key.token_id == key_id)
            if used_at is not None and used_at >= at:
                revoke_api_key(session, key_id, now=at)
                bump_gallery_version(session)
                return
        time.sleep(0.01)
    errors.append("the waiting sync never authenticated")


def test_a_device_key_revoked_during_a_waiting_sync_gets_401_not_the_gallery(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    """A stolen gate's key is revoked while its long poll waits (up to 55 s); someone is enrolled meanwhile.
    The route checked the key before the wait only, so the answer after it sealed the new templates to the
    revoked device."""
    now = [datetime.now(UTC)]
    services = make_services(engine, keyring, recognizer, clock=lambda: now[0])
    admin = make_tokens(engine)[Role.admin]
    pair = generate_device_key_pair()
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)
        body = {"role": "device", "label": "stolen", "doors": ["front"], "create_doors": True}
        device = client.post("/api-keys", json=body, headers=_bearer(admin)).json()["token"]
        person = client.post("/people", json={"name": "Ann"}, headers=_bearer(admin)).json()["id"]
        photos = [("photos", ("ann.jpg", group_faces[0], "image/jpeg"))]
        enrolled = client.post(f"/people/{person}/faces", files=photos, headers=_bearer(admin))
        assert enrolled.status_code == 201, enrolled.text
        key = {"x25519_public_key": base64.b64encode(pair.public_key).decode()}
        assert client.post("/devices/register", json=key, headers=_bearer(device)).status_code == 200
        sync = {"model_id": recognizer.model_id, "version": None}
        version = client.post("/devices/gallery", json=sync, headers=_bearer(device)).json()["version"]

        now[0] += timedelta(minutes=5)  # the waiting sync's authentication records this time as its use
        errors: list[str] = []
        revoker = threading.Thread(
            target=_revoke_once_it_authenticated, args=(engine, device.split("_")[1], now[0], errors)
        )
        revoker.start()
        waiting = {**sync, "version": version, "template_ids": [], "wait_s": MAX_WAIT_S}
        answer = client.post("/devices/gallery", json=waiting, headers=_bearer(device))
        revoker.join()

    assert errors == []
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
