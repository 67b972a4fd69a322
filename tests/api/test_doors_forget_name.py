"""A door's former name can be dropped only while no event was audited under it (SQLite, PostgreSQL).

A former name could not be dropped at all: a mistyped rename kept its name from every other door for good.
Events keep the name they were recorded under and the door's event filter finds them by it, so a name
with events under it stays the door's: dropped, the door's filter would lose them, and a new door taking
the name would seem to own them.
"""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app
from storage import Engine, Role, gallery_version, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_events_former_names import record_event


def _version(api: ApiHarness) -> int:
    with session_scope(api.services.engine) as session:
        return gallery_version(session)


def test_a_former_name_without_events_is_dropped_one_with_events_stays(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    assert api.client.post("/doors", json={"name": "lobby"}, headers=admin).status_code == 201
    record_event(api, "lobby", 0)
    for name in ("hall", "a/b", "atrium"):
        assert api.client.patch("/doors/1", json={"name": name}, headers=admin).status_code == 200

    kept = api.client.delete("/doors/1/former-names/lobby", headers=admin)
    assert kept.status_code == 409, kept.text
    assert kept.json()["detail"] == (
        "events were audited under 'lobby' (sources: cam-1): it stays a former name of door 'atrium', so "
        "that the door's event filter keeps finding them"
    )
    before = _version(api)
    dropped = api.client.delete("/doors/1/former-names/hall", headers=admin)
    assert dropped.status_code == 200, dropped.text
    assert (dropped.json()["name"], dropped.json()["former_names"]) == ("atrium", ["lobby", "a/b"])
    assert _version(api) > before  # gates and edge devices reload the door's names
    slash = api.client.delete("/doors/1/former-names/a%2Fb", headers=admin)
    assert (slash.status_code, slash.json()["former_names"]) == (200, ["lobby"])

    assert api.client.post("/doors", json={"name": "hall"}, headers=admin).status_code == 201  # free again
    for door_id, name in ((1, "hall"), (2, "lobby"), (9, "lobby")):
        missing = api.client.delete(f"/doors/{door_id}/former-names/{name}", headers=admin)
        assert missing.status_code == 404, (door_id, name, missing.text)
    events = api.client.get("/events", params={"door": "atrium"}, headers=api.auth(Role.auditor)).json()
    assert [event["door"] for event in events["items"]] == ["lobby"]  # the door still finds its event
    assert api.client.delete("/doors/1/former-names/x", headers=api.auth(Role.auditor)).status_code == 403


def test_the_cli_drops_a_former_name_and_refuses_a_name_that_is_none(configured: Engine) -> None:
    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["doors", *args])
        return result.exit_code, " ".join(result.output.split())

    assert invoke("create", "lobby")[0] == 0 and invoke("rename", "1", "hall")[0] == 0
    assert invoke("forget-name", "1", "lobby") == (
        0,
        "door 1 hall no longer answers to lobby; former names: none",
    )
    assert invoke("forget-name", "1", "lobby") == (
        1,
        "error: NotFound: 'lobby' is not a former name of door 'hall'",
    )
    assert invoke("forget-name", "2", "lobby") == (1, "error: NotFound: door 2 does not exist")
    assert invoke("create", "lobby")[0] == 0
