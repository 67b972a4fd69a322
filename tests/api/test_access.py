"""Access policy over HTTP (admin): groups, members, door rules, and their errors."""

from __future__ import annotations

from storage import Role
from tests.api.conftest import ApiHarness

RULE = {
    "door": "front",
    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "start": "07:30",
    "end": "19:00",
    "timezone": "Europe/Berlin",
}


def test_groups_members_and_rules_round_trip(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    ada = api.create_person("Ada")
    version = api.state().gallery_version

    group = api.client.post("/access/groups", json={"name": "staff"}, headers=admin)
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    member = api.client.put(f"/access/groups/{group_id}/members/{ada}", headers=admin)
    assert member.status_code == 200 and member.json()["member_ids"] == [ada]
    rule = api.client.post(
        "/access/rules", json=RULE | {"group_id": group_id, "create_door": True}, headers=admin
    )
    assert rule.status_code == 201, rule.text
    assert rule.json() | {"id": 0, "created_at": ""} == RULE | {
        "group_id": group_id,
        "id": 0,
        "created_at": "",
    }
    assert api.state().gallery_version == version + 2  # running gates reload the policy

    groups = api.client.get("/access/groups", headers=admin).json()
    assert (groups["total"], groups["items"][0]["name"], groups["items"][0]["member_ids"]) == (
        1,
        "staff",
        [ada],
    )
    assert api.client.get("/access/rules", params={"door": "front"}, headers=admin).json()["total"] == 1
    assert api.client.get("/access/rules", params={"door": "back"}, headers=admin).json()["total"] == 0

    removed = api.client.delete(f"/access/groups/{group_id}/members/{ada}", headers=admin)
    assert removed.status_code == 200 and removed.json()["member_ids"] == []
    # front's only rule: without it front admits everyone, so only when asked
    version = api.state().gallery_version
    for path in (f"/access/rules/{rule.json()['id']}", f"/access/groups/{group_id}"):
        refused = api.client.delete(path, headers=admin)
        assert refused.status_code == 409, refused.text
        assert "would leave door 'front' without rules" in refused.json()["detail"]
    assert api.client.get("/access/rules", headers=admin).json()["total"] == 1
    assert api.state().gallery_version == version  # running gates keep the rule
    deleted = api.client.delete(
        f"/access/rules/{rule.json()['id']}", params={"allow_open_doors": True}, headers=admin
    )
    assert deleted.status_code == 204
    assert api.client.delete(f"/access/groups/{group_id}", headers=admin).status_code == 204
    assert api.client.get("/access/groups", headers=admin).json()["total"] == 0


def test_access_errors_map_to_404_409_and_422(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    group_id = api.client.post("/access/groups", json={"name": "staff"}, headers=admin).json()["id"]

    duplicate = api.client.post("/access/groups", json={"name": "staff"}, headers=admin)
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]
    assert api.client.put(f"/access/groups/{group_id}/members/424242", headers=admin).status_code == 404
    assert api.client.delete(f"/access/groups/{group_id}/members/424242", headers=admin).status_code == 404
    assert (
        api.client.post("/access/rules", json=RULE | {"group_id": 424242}, headers=admin).status_code == 404
    )
    assert api.client.delete("/access/rules/424242", headers=admin).status_code == 404
    overnight = api.client.post(
        "/access/rules", json=RULE | {"group_id": group_id, "start": "22:00", "end": "06:00"}, headers=admin
    )
    assert overnight.status_code == 422 and "overnight" in overnight.text
    bad_zone = api.client.post(
        "/access/rules", json=RULE | {"group_id": group_id, "timezone": "Nowhere/Special"}, headers=admin
    )
    assert bad_zone.status_code == 422 and "unknown time zone" in bad_zone.text
    for zone in ("localtime", "Europe"):  # the machine's own zone; a folder of zones (IsADirectoryError)
        refused = api.client.post(
            "/access/rules",
            json=RULE | {"group_id": group_id, "timezone": zone, "door": "new", "create_door": True},
            headers=admin,
        )
        assert refused.status_code == 422 and f"unknown time zone {zone!r}" in refused.text, refused.text
    assert api.client.get("/access/rules", headers=admin).json()["total"] == 0
    assert api.client.get("/doors", headers=admin).json()["total"] == 0
    assert api.client.post("/access/groups", json={"name": ""}, headers=admin).status_code == 422
