"""A device key's /identify answers only from the people its doors admit (SQLite, PostgreSQL, real models).

It searched the whole gallery: a key of a gate at one door (taken from its controller, say) named anyone
enrolled in a photo, people with access to no door of it included, with their scores as candidates. An
admin key still searches everyone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from storage import (
    DoorRuleCreate,
    Role,
    Weekday,
    add_member,
    bind_device_doors,
    create_api_key,
    create_door,
    create_door_rule,
    create_group,
    remove_member,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.test_gallery_loading import _photo
from tests.data import knn_examples


def _enroll(api: ApiHarness, name: str) -> int:
    person = api.create_person(name.title())
    photo = _photo(name)
    files = [("photos", (photo.name, photo.data, "image/jpeg"))]
    response = api.client.post(f"/people/{person}/faces", files=files, headers=api.auth(Role.admin))
    assert response.status_code == 201, response.text
    return person


def _door_for(api: ApiHarness, door: str, person_ids: list[int]) -> int | None:
    """A door whose one rule admits these people (every day, all day), and the rule's group id; no rule
    (None) when none are given."""
    with session_scope(api.services.engine) as session:
        create_door(session, name=door)
        if not person_ids:
            return None
        group = create_group(session, name=f"{door} staff")
        for person_id in person_ids:
            add_member(session, group_id=group.id, person_id=person_id)
        every_day = {"weekdays": list(Weekday), "start": "00:00", "end": "24:00"}
        rule = DoorRuleCreate.model_validate({"door": door, "group_id": group.id, **every_day})
        create_door_rule(session, rule)
        return group.id


def _device_key(api: ApiHarness, *doors: str) -> dict[str, str]:
    with session_scope(api.services.engine) as session:
        token, key = create_api_key(session, role=Role.device, label="gate", now=datetime.now(UTC))
        bind_device_doors(session, key_id=key.token_id, doors=doors)
    return {"Authorization": f"Bearer {token}"}


def _identify(api: ApiHarness, headers: dict[str, str]) -> dict[str, Any]:
    probe = knn_examples() / "test" / "obama_and_biden.jpg"
    files = {"photo": (probe.name, probe.read_bytes(), "image/jpeg")}
    response = api.client.post("/identify", files=files, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _named(answer: dict[str, Any]) -> set[int]:
    return {face["person_id"] for face in answer["faces"] if face["person_id"] is not None}


def _candidates(answer: dict[str, Any]) -> set[int]:
    return {c["person_id"] for face in answer["faces"] for c in face["candidates"]}


def test_a_device_key_identifies_only_the_people_of_its_doors(api: ApiHarness) -> None:
    obama, biden = _enroll(api, "obama"), _enroll(api, "biden")
    _door_for(api, "north", [obama])
    _door_for(api, "south", [biden])
    _door_for(api, "lobby", [])  # no rules: it admits everyone

    everyone = _identify(api, api.auth(Role.admin))
    assert _named(everyone) == {obama, biden} and everyone["gallery_size"] == 2

    north = _identify(api, _device_key(api, "north"))
    assert len(north["faces"]) == len(everyone["faces"])  # every face found; only named from its doors
    assert _named(north) == {obama} and _candidates(north) == {obama}  # Biden: unknown, and no candidate
    assert north["gallery_size"] == 1  # the threshold is set for the templates it searched
    south = _identify(api, _device_key(api, "south"))
    assert _named(south) == {biden} and _candidates(south) == {biden} and south["gallery_size"] == 1
    both = _identify(api, _device_key(api, "north", "south"))
    assert _named(both) == {obama, biden}
    assert _named(_identify(api, _device_key(api, "south", "lobby"))) == {obama, biden}

    no_doors = _identify(api, _device_key(api))
    assert len(no_doors["faces"]) == len(everyone["faces"])
    assert _named(no_doors) == set() and _candidates(no_doors) == set() and no_doors["gallery_size"] == 0


def test_a_device_key_loses_a_person_whose_access_ends(api: ApiHarness) -> None:
    """The scope is read at each request: a person taken off the door's group is unknown at once."""
    obama, biden = _enroll(api, "obama"), _enroll(api, "biden")
    group_id = _door_for(api, "north", [obama, biden])
    assert group_id is not None
    north = _device_key(api, "north")
    assert _named(_identify(api, north)) == {obama, biden}

    with session_scope(api.services.engine) as session:
        remove_member(session, group_id=group_id, person_id=biden)
    assert _named(_identify(api, north)) == {obama}
