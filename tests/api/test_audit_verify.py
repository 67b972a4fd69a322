"""GET /audit/verify: auditors see whether the audit chain holds and where it first breaks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from storage import Role
from tests.api.conftest import ApiHarness
from tests.storage.audit_helpers import append


def _verify(api: ApiHarness, role: Role = Role.auditor) -> dict[str, Any]:
    response = api.client.get("/audit/verify", headers=api.auth(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_intact_chain_is_reported_ok(api: ApiHarness) -> None:
    append(api.services.engine, api.services.keyring, range(1, 6))

    body = _verify(api)

    assert body["is_ok"] is True and body["events_checked"] == 5 and body["last_sequence"] == 5
    assert body["reason"] is None and body["broken_sequence"] is None and body["detail"] == ""
    assert _verify(api, Role.admin) == body


def test_an_edited_event_is_named(api: ApiHarness) -> None:
    append(api.services.engine, api.services.keyring, range(1, 6))
    with api.services.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET decision = 'granted' WHERE sequence = 3"))
        event_id = connection.execute(text("SELECT id FROM audit_event WHERE sequence = 3")).scalar_one()

    body = _verify(api)

    assert body["is_ok"] is False and body["reason"] == "edited"
    assert (body["broken_sequence"], body["broken_event_id"], body["events_checked"]) == (3, event_id, 2)
    assert "does not match its HMAC" in body["detail"]


def test_devices_may_not_verify(api: ApiHarness) -> None:
    assert api.client.get("/audit/verify", headers=api.auth(Role.device)).status_code == 403
