"""A device key is bound only to doors that exist, by their name now or a former one (SQLite, PostgreSQL).

Binding used to register an unknown name as a new door, without rules, so a misspelt door on an edge
gate's key opened that door to every enrolled person.
"""

from __future__ import annotations

from datetime import UTC, datetime

from typer.testing import CliRunner

from api.cli import app
from storage import (
    Engine,
    Role,
    create_door,
    device_doors,
    list_api_keys,
    list_doors,
    rename_door,
    session_scope,
)
from tests.api.conftest import ApiHarness


def _doors_and_key_count(engine: Engine) -> tuple[list[str], int]:
    with session_scope(engine) as session:
        return [door.name for door in list_doors(session)], list_api_keys(session)[1]


def _lobby_renamed_hall(engine: Engine) -> None:
    with session_scope(engine) as session:
        lobby = create_door(session, name="lobby")
        rename_door(session, lobby.id, name="hall", now=datetime.now(UTC))


def test_an_unknown_door_is_refused_over_http_unless_created(api: ApiHarness) -> None:
    engine, admin = api.services.engine, api.auth(Role.admin)
    _lobby_renamed_hall(engine)
    before = _doors_and_key_count(engine)
    body = {"role": "device", "label": "lab gate", "doors": ["hall", "labb"]}

    refused = api.client.post("/api-keys", json=body, headers=admin)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("no door is called 'labb', now or before a rename: register the door first")
    assert "POST /doors" in detail and "create_doors" in detail
    assert _doors_and_key_count(engine) == before  # no door registered, no key created

    created = api.client.post("/api-keys", json={**body, "create_doors": True}, headers=admin)
    assert created.status_code == 201, created.text
    former = api.client.post("/api-keys", json={**body, "doors": ["lobby", "hall"]}, headers=admin)
    assert former.status_code == 201, former.text
    with session_scope(engine) as session:
        assert device_doors(session, created.json()["token_id"]) == ["hall", "labb"]
        assert device_doors(session, former.json()["token_id"]) == ["hall"]  # the door lobby names now, once


def test_an_unknown_door_is_refused_by_the_cli_unless_created(configured: Engine) -> None:
    _lobby_renamed_hall(configured)
    before = _doors_and_key_count(configured)
    command = ["apikeys", "create", "--role", "device", "--label", "lab gate", "--door", "labb"]

    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 1
    assert " ".join(refused.output.split()) == (  # one message, however rich wraps it
        "error: DoorNotFound: no door is called 'labb', now or before a rename: register the door first "
        "(facegate doors create, POST /doors or the console's Access page), or bind with create_doors (the "
        "API) or --create-doors "
        "(facegate apikeys create), which registers it without rules, so that it admits every enrolled person"
    )
    assert _doors_and_key_count(configured) == before

    created = CliRunner().invoke(app, [*command, "--create-doors"])
    assert created.exit_code == 0, created.output
    assert "doors: labb" in created.output
    former = CliRunner().invoke(app, [*command[:-1], "lobby"])
    assert former.exit_code == 0, former.output
    assert "doors: hall" in former.output
