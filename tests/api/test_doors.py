"""/doors (admin): list with rules, register, rename; unique names."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from storage import Role, append_event, bind_device_doors, create_door, session_scope
from tests.api.conftest import ApiHarness
from tests.concurrency import Worker
from tests.gate.journal_support import sample_event

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


def test_create_list_rename_with_rules(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    created = api.client.post("/doors", json={"name": "front"}, headers=admin)
    assert created.status_code == 201 and created.json()["rules"] == []
    assert api.client.post("/doors", json={"name": "front"}, headers=admin).status_code == 409
    group = api.client.post("/access/groups", json={"name": "staff"}, headers=admin).json()
    rule = {"door": "front", "group_id": group["id"], "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
    assert api.client.post("/access/rules", json=rule, headers=admin).status_code == 201
    api.client.post("/doors", json={"name": "back"}, headers=admin)

    listed = api.client.get("/doors", headers=admin).json()
    assert listed["total"] == 2 and [door["name"] for door in listed["items"]] == ["back", "front"]
    front = listed["items"][1]
    assert [(r["group_id"], r["start"], r["end"]) for r in front["rules"]] == [
        (group["id"], "08:00", "18:00")
    ]

    before = api.state().gallery_version
    renamed = api.client.patch(f"/doors/{front['id']}", json={"name": "main entrance"}, headers=admin)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "main entrance" and renamed.json()["rules"][0]["door"] == "main entrance"
    assert api.state().gallery_version == before + 1  # gates reload their door's rules
    clash = api.client.patch(f"/doors/{front['id']}", json={"name": "back"}, headers=admin)
    assert clash.status_code == 409
    assert api.client.patch("/doors/987654", json={"name": "x"}, headers=admin).status_code == 404


def test_two_creations_of_one_name_at_once_one_answers_409(api: ApiHarness) -> None:
    """The request's name check runs before the other creation commits; the unique index refuses it."""
    engine, holder_inserted = api.services.engine, threading.Event()
    request_inserting = threading.Event()

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() != holder.thread.ident and "INSERT INTO door" in statement:
            request_inserting.set()  # the request's check found no door: the holder's is uncommitted

    def hold() -> None:
        with session_scope(engine) as session:
            create_door(session, name="front")
            holder_inserted.set()
            assert request_inserting.wait(timeout=WAIT_S)

    answers: list[tuple[int, object]] = []
    holder = Worker(hold)

    def request() -> None:
        response = api.client.post("/doors", json={"name": "front"}, headers=api.auth(Role.admin))
        answers.append((response.status_code, response.json()))

    requester = Worker(request)
    # The key's first use is recorded (a write): done now, or on SQLite it would wait for the holder.
    assert api.client.get("/doors", headers=api.auth(Role.admin)).status_code == 200
    event.listen(engine, "before_cursor_execute", note)
    try:
        holder.thread.start()
        assert holder_inserted.wait(timeout=WAIT_S)
        requester.thread.start()
        holder.thread.join(timeout=WAIT_S)
        requester.thread.join(timeout=WAIT_S)
    finally:
        event.remove(engine, "before_cursor_execute", note)

    assert holder.errors == [] and requester.errors == []
    assert answers == [(409, {"detail": "another door has the same name"})]
    listed = api.client.get("/doors", headers=api.auth(Role.admin)).json()
    assert [door["name"] for door in listed["items"]] == ["front"]


def test_a_rename_answers_what_still_knows_the_door_by_its_old_name(api: ApiHarness) -> None:
    """The answer said nothing of the gates and device keys configured with the old name."""
    admin = api.auth(Role.admin)
    front = api.client.post("/doors", json={"name": "front"}, headers=admin).json()
    device_key = api.tokens[Role.device].split("_")[1]
    now = datetime.now(UTC)
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=device_key, doors=["front"])
        for source, age in (("rtsp://***@cam-1/a", timedelta(days=1)), ("rtsp://cam-2", timedelta(days=40))):
            stamped = {"door": "front", "source": source, "occurred_at": now - age}
            append_event(session, api.services.keyring, sample_event(1).model_copy(update=stamped))

    renamed = api.client.patch(f"/doors/{front['id']}", json={"name": "lobby"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    answer = renamed.json()
    assert (answer["name"], answer["former_name"], answer["former_names"]) == ("lobby", "front", ["front"])
    assert answer["audited_sources"] == ["rtsp://***@cam-1/a"]  # cam-2: not within the last 30 days
    assert answer["device_token_ids"] == [device_key]
    again = api.client.patch(f"/doors/{front['id']}", json={"name": "lobby"}, headers=admin).json()
    assert (again["audited_sources"], again["device_token_ids"], again["former_names"]) == ([], [], ["front"])
    taken = api.client.post("/doors", json={"name": "front"}, headers=admin)
    assert taken.status_code == 409 and "former name of door 'lobby'" in taken.text
