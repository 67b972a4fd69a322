"""People routes: create, list with pagination and total, read, delete."""

from __future__ import annotations

from typing import Any

import pytest

from storage import AuditEventCreate, Decision, Role, append_event, session_scope
from tests.api.conftest import ApiHarness


def test_create_read_list_delete(api: ApiHarness) -> None:
    admin = api.auth(Role.admin)
    created = api.client.post("/people", json={"name": "Ada Lovelace"}, headers=admin)
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Ada Lovelace" and body["template_count"] == 0
    assert body["created_at"].endswith(("Z", "+00:00"))

    assert api.client.get(f"/people/{body['id']}", headers=admin).json() == body

    deleted = api.client.delete(f"/people/{body['id']}", headers=admin)
    assert deleted.status_code == 204 and deleted.content == b""
    missing = api.client.get(f"/people/{body['id']}", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"person {body['id']} does not exist"}
    assert api.client.delete(f"/people/{body['id']}", headers=admin).status_code == 404


def test_list_is_paginated_with_total(api: ApiHarness) -> None:
    ids = [api.create_person(f"Person {i}") for i in range(5)]
    admin = api.auth(Role.admin)

    first = api.client.get("/people", params={"limit": 2}, headers=admin).json()
    assert first["total"] == 5 and first["offset"] == 0 and first["limit"] == 2
    assert [p["id"] for p in first["items"]] == ids[:2]

    last = api.client.get("/people", params={"offset": 4, "limit": 2}, headers=admin).json()
    assert last["total"] == 5 and [p["id"] for p in last["items"]] == ids[4:]

    beyond = api.client.get("/people", params={"offset": 10}, headers=admin).json()
    assert beyond == {"items": [], "total": 5, "offset": 10, "limit": 50}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}], ids=lambda p: str(p)
)
def test_bad_pagination_is_422(api: ApiHarness, params: dict[str, Any]) -> None:
    response = api.client.get("/people", params=params, headers=api.auth(Role.admin))
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "x" * 201}, {"name": "Ada", "role": "admin"}, {"name": 7}],
    ids=["missing", "empty", "too-long", "unknown-field", "not-a-string"],
)
def test_bad_person_body_is_422_and_writes_nothing(api: ApiHarness, body: dict[str, Any]) -> None:
    before = api.state()
    response = api.client.post("/people", json=body, headers=api.auth(Role.admin))
    assert response.status_code == 422
    assert response.json()["detail"]
    assert api.state() == before


def test_non_integer_person_id_is_422(api: ApiHarness) -> None:
    assert api.client.get("/people/abc", headers=api.auth(Role.admin)).status_code == 422


def test_search_by_name_is_case_insensitive_and_paginated(api: ApiHarness) -> None:
    for name in ("Ada Lovelace", "ada byron", "Grace Hopper", "Adalbert", "100%_sure"):
        api.create_person(name)
    admin = api.auth(Role.admin)

    found = api.client.get("/people", params={"name": "ADA", "limit": 2}, headers=admin).json()
    assert found["total"] == 3 and [p["name"] for p in found["items"]] == ["Ada Lovelace", "ada byron"]
    rest = api.client.get("/people", params={"name": "ada", "offset": 2}, headers=admin).json()
    assert [p["name"] for p in rest["items"]] == ["Adalbert"]
    # LIKE wildcards in the search text are taken literally.
    assert api.client.get("/people", params={"name": "%"}, headers=admin).json()["total"] == 1
    assert api.client.get("/people", params={"name": "_"}, headers=admin).json()["total"] == 1


def test_rename(api: ApiHarness) -> None:
    person_id = api.create_person("Ada")
    admin = api.auth(Role.admin)
    renamed = api.client.patch(f"/people/{person_id}", json={"name": "Ada King"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Ada King"
    assert api.client.get(f"/people/{person_id}", headers=admin).json()["name"] == "Ada King"
    assert api.client.patch("/people/987654", json={"name": "x"}, headers=admin).status_code == 404
    assert api.client.patch(f"/people/{person_id}", json={"name": ""}, headers=admin).status_code == 422


def test_subject_access_export_and_erasure_report(api: ApiHarness, group_faces: list[bytes]) -> None:
    admin = api.auth(Role.admin)
    person_id = api.create_person("Ada")
    files = [("photos", ("ada.jpg", group_faces[0], "image/jpeg"))]
    assert api.client.post(f"/people/{person_id}/faces", files=files, headers=admin).status_code == 201
    group = api.client.post("/access/groups", json={"name": "staff"}, headers=admin).json()
    api.client.put(f"/access/groups/{group['id']}/members/{person_id}", headers=admin)
    device = api.auth(Role.device)
    probe = {"photo": ("probe.jpg", group_faces[0], "image/jpeg")}
    assert api.client.post("/identify", files=probe, headers=device).status_code == 200
    with session_scope(api.services.engine) as session:
        append_event(
            session,
            api.services.keyring,
            AuditEventCreate(
                door="front",
                source="cam",
                decision=Decision.granted,
                reason="match",
                person_id=person_id,
                model_id="m",
            ),
        )

    export = api.client.get(f"/people/{person_id}/export", headers=admin)
    assert export.status_code == 200
    body = export.json()
    assert body["person"]["name"] == "Ada" and [g["name"] for g in body["groups"]] == ["staff"]
    assert [t["source_name"] for t in body["templates"]] == ["ada.jpg"]
    assert [e["person_id"] for e in body["events"]] == [person_id]
    assert api.client.get("/people/987654/export", headers=admin).status_code == 404

    report = api.client.post(f"/people/{person_id}/erase", headers=admin)
    assert report.status_code == 200
    assert report.json() == {
        "person_id": person_id,
        "templates_removed": 1,
        "group_memberships_removed": 1,
        "is_crypto_shredded": True,
        "audit_events_kept": 2,  # the gate's event and the erasure's own
    }
    assert api.client.get(f"/people/{person_id}", headers=admin).status_code == 404
    assert api.client.post(f"/people/{person_id}/erase", headers=admin).status_code == 404
