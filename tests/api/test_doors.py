"""/doors (admin): list with rules, register, rename; unique names."""

from __future__ import annotations

from storage import Role
from tests.api.conftest import ApiHarness


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
