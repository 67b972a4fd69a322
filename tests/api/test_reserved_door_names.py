"""Failed API and console sign-ins are audited under the door `api`, erasures under `people`; an admin could
create or rename a real door to either name (API, `facegate doors`, console, a rule or device key that
registers its door), after which an auditor could not tell that door's events from those. Every way of
naming a door now goes through storage's refuse_reserved_door_name: 422 / one CLI line, nothing stored.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from storage import API_AUDIT_DOOR, ERASURE_DOOR, Engine, Role, list_doors_with_rules, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in

RESERVED = (API_AUDIT_DOOR, ERASURE_DOOR)


def _door_names(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        doors, _ = list_doors_with_rules(session)
        return [door.name for door in doors]


@pytest.mark.parametrize("name", RESERVED)
def test_the_api_refuses_a_reserved_door_name(api: ApiHarness, name: str) -> None:
    admin = api.auth(Role.admin)
    created = api.client.post("/doors", json={"name": name}, headers=admin)
    assert created.status_code == 422, created.text
    assert f"door name {name!r} is reserved: the audit log records" in created.json()["detail"]

    front = api.client.post("/doors", json={"name": "front"}, headers=admin).json()
    renamed = api.client.patch(f"/doors/{front['id']}", json={"name": name}, headers=admin)
    assert renamed.status_code == 422 and "is reserved" in renamed.json()["detail"]

    group = api.client.post("/access/groups", json={"name": "staff"}, headers=admin).json()
    rule = {"door": name, "group_id": group["id"], "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
    registered = api.client.post("/access/rules", json=rule | {"create_door": True}, headers=admin)
    assert registered.status_code == 422 and "is reserved" in registered.json()["detail"]
    assert _door_names(api.services.engine) == ["front"]


def test_the_cli_refuses_a_reserved_door_name(configured: Engine) -> None:
    result = CliRunner().invoke(app, ["doors", "create", API_AUDIT_DOOR])
    assert result.exit_code != 0
    assert "door name 'api' is reserved" in " ".join(result.output.split())
    assert _door_names(configured) == []


def test_the_console_refuses_a_reserved_door_name(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[Role.admin])
    refused = api.client.post("/ui/access/doors", data={"name": API_AUDIT_DOOR, "csrf_token": csrf})
    assert refused.status_code == 422 and "is reserved" in refused.text
    assert _door_names(api.services.engine) == []


def test_a_door_already_called_api_can_be_renamed_away(api: ApiHarness) -> None:
    """An installation that made one before the refusal keeps it, and can rename it to another name."""
    with session_scope(api.services.engine) as session:
        session.execute(
            text("INSERT INTO door (name, created_at) VALUES (:name, :at)"),
            {"name": API_AUDIT_DOOR, "at": datetime.now(UTC)},
        )
    admin = api.auth(Role.admin)
    door = api.client.get("/doors", headers=admin).json()["items"][0]
    assert door["name"] == API_AUDIT_DOOR
    renamed = api.client.patch(f"/doors/{door['id']}", json={"name": "loading bay"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["former_name"] == API_AUDIT_DOOR
