"""A door filter finds the events recorded under the door's former names: API list and export, the console's
Events page and `facegate events`, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage import AuditEventCreate, Decision, Role, append_event, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


def record_event(api: ApiHarness, door: str, minutes: int) -> None:
    """Audit a denial at `door` by cam-1, `minutes` after T0."""
    event = AuditEventCreate(
        door=door,
        source="cam-1",
        decision=Decision.denied,
        reason="unknown face",
        score=0.1,
        threshold=0.363,
        model_id="sface-int8",
        occurred_at=T0 + timedelta(minutes=minutes),
    )
    with session_scope(api.services.engine) as session:
        append_event(session, api.services.keyring, event)


def _rename(api: ApiHarness, door_id: int, name: str) -> None:
    response = api.client.patch(f"/doors/{door_id}", json={"name": name}, headers=api.auth(Role.admin))
    assert response.status_code == 200, response.text


@pytest.fixture
def renamed(api: ApiHarness) -> ApiHarness:
    """Door lobby, renamed hall, then atrium, with events under each name; door back, never renamed."""
    created = api.client.post("/doors", json={"name": "lobby"}, headers=api.auth(Role.admin))
    assert created.status_code == 201, created.text
    door_id = created.json()["id"]
    record_event(api, "lobby", 0)
    record_event(api, "lobby", 10)
    _rename(api, door_id, "hall")
    record_event(api, "hall", 20)
    record_event(api, "back", 30)
    _rename(api, door_id, "atrium")
    record_event(api, "atrium", 40)
    return api


def _doors(api: ApiHarness, door: str) -> tuple[list[str], int]:
    response = api.client.get("/events", params={"door": door}, headers=api.auth(Role.auditor))
    assert response.status_code == 200, response.text
    body = response.json()
    return [event["door"] for event in body["items"]], body["total"]


@pytest.mark.parametrize("name", ["atrium", "hall", "lobby"])
def test_the_events_list_finds_a_doors_events_by_any_of_its_names(renamed: ApiHarness, name: str) -> None:
    """Filtering by the name now found only the events since the last rename (1 of 4)."""
    assert _doors(renamed, name) == (["atrium", "hall", "lobby", "lobby"], 4)
    assert _doors(renamed, "back") == (["back"], 1)
    assert _doors(renamed, "nowhere") == ([], 0)


def test_the_export_finds_the_events_under_former_names(renamed: ApiHarness) -> None:
    response = renamed.client.get(
        "/events/export.csv", params={"door": "atrium"}, headers=renamed.auth(Role.auditor)
    )
    assert response.status_code == 200, response.text
    assert [row["door"] for row in csv.DictReader(io.StringIO(response.text))] == [
        "atrium",
        "hall",
        "lobby",
        "lobby",
    ]


def test_the_console_events_page_finds_the_events_under_former_names(renamed: ApiHarness) -> None:
    sign_in(renamed.client, renamed.tokens[Role.auditor])
    page = renamed.client.get("/ui/events", params={"door": "atrium"}).text
    assert page.count("<tr class=") == 4
    assert re.findall(r"<td>(atrium|hall|lobby|back)</td>", page) == ["atrium", "hall", "lobby", "lobby"]


def test_the_events_command_finds_the_events_under_former_names(
    renamed: ApiHarness, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["events", "--door", "atrium"])
    assert result.exit_code == 0, result.output
    assert "4 of 4 events" in result.output
