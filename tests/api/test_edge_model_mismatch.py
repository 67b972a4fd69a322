"""An edge gate left on the former model after a switch is named: in the API's log at its gallery sync, and on
the System page beside its door's last decision.

Its sync asks for the templates of its own model, which the API serves: it kept admitting only the people
enrolled before the switch, and nothing said so (the System page showed the model without comparing it).
"""

from __future__ import annotations

import base64
import logging
import re

import pytest

from storage import (
    AuditEventCreate,
    Decision,
    Role,
    append_event,
    ensure_door,
    generate_device_key_pair,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in

OTHER_MODEL = "mobilefacenet-foamliu-onnx@a6cc903"


def _sync(api: ApiHarness, model_id: str) -> None:
    body = {"model_id": model_id, "version": None, "template_ids": []}
    response = api.client.post("/devices/gallery", json=body, headers=api.auth(Role.device))
    assert response.status_code == 200, response.text


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "api.services" and r.levelno == logging.WARNING
    ]


def test_a_device_syncing_for_another_model_is_logged_once(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    public_key = base64.b64encode(generate_device_key_pair().public_key).decode()
    registered = api.client.post(
        "/devices/register", json={"x25519_public_key": public_key}, headers=api.auth(Role.device)
    )
    assert registered.status_code == 200, registered.text
    running = api.services.recognizer.model_id
    key_id = registered.json()["token_id"]

    with caplog.at_level(logging.WARNING, logger="api.services"):
        _sync(api, running)
        assert _warnings(caplog) == []
        _sync(api, OTHER_MODEL)
        _sync(api, OTHER_MODEL)
    assert _warnings(caplog) == [
        f"edge gate of device key {key_id} syncs its gallery for model {OTHER_MODEL}, not the API's "
        f"{running}: it gets only templates stored under {OTHER_MODEL}, so whoever is enrolled under "
        f"{running} alone is denied at its doors until it runs that model too"
    ]


def test_the_system_page_flags_a_door_whose_gate_decided_with_another_model(api: ApiHarness) -> None:
    running = api.services.recognizer.model_id
    with session_scope(api.services.engine) as session:
        for door, model_id in (("front", OTHER_MODEL), ("back", running)):
            ensure_door(session, name=door)
            event = AuditEventCreate(
                door=door, source="cam", decision=Decision.denied, reason="unknown", model_id=model_id
            )
            append_event(session, api.services.keyring, event)
    sign_in(api.client, api.tokens[Role.auditor])

    page = api.client.get("/ui/system").text
    rows = {
        cells[0]: cells
        for cells in (
            [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", page)
        )
        if cells
    }
    assert rows["front"][3] == f"{OTHER_MODEL} not the active model: its gate runs another"
    assert rows["back"][3] == running
