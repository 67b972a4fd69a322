"""The Idempotency-Key header of the create routes (POST /people, POST /people/{id}/faces) and of erasure: a
retry with the key replays the first answer and creates (or erases) nothing again. Without it a client that
lost an answer (a 503 `commit_unconfirmed` whose COMMIT did reach the database) and retried enrolled the
person a second time, or got 404 for an erasure that had happened, and lost its report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import (
    Engine,
    IdempotentRequest,
    Keyring,
    Role,
    find_idempotent_response,
    session_scope,
)
from tests.api.conftest import ApiHarness, Proxied, db_state, make_services, make_tokens, wait_for_gallery
from tests.api.test_database_outage import losing_the_commit_answer
from tests.gate.pg_proxy import TcpProxy


def _keyed(api: ApiHarness, key: str) -> dict[str, str]:
    return {**api.auth(Role.admin), "Idempotency-Key": key}


def _stored_keys(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM idempotent_response")).scalar_one())


def test_a_retried_create_replays_the_first_answer_and_creates_one_person(api: ApiHarness) -> None:
    before = api.state()
    first = api.client.post("/people", json={"name": "Zoë"}, headers=_keyed(api, "k-1"))
    again = api.client.post("/people", json={"name": "Zoë"}, headers=_keyed(api, "k-1"))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    # The same bytes, as README says ("same status and body"), not only the same JSON value: the replay
    # was `{"id": 1, "name": "Zo\u00eb", ...}` against `{"id":1,"name":"Zoë",...}`.
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert api.state().people == before.people + 1
    # Without the header nothing changes: each request creates its person.
    plain = [api.client.post("/people", json={"name": "Ada"}, headers=api.auth(Role.admin)) for _ in range(2)]
    assert [answer.status_code for answer in plain] == [201, 201]
    assert plain[0].json()["id"] != plain[1].json()["id"]
    assert all("Idempotent-Replayed" not in answer.headers for answer in plain)
    assert api.state().people == before.people + 3


def test_the_same_key_with_another_request_is_refused_with_422(api: ApiHarness) -> None:
    first = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "k-2"))
    other = api.client.post("/people", json={"name": "Grace"}, headers=_keyed(api, "k-2"))
    assert first.status_code == 201, first.text
    assert other.status_code == 422 and other.json()["status"] == "idempotency_key_reused", other.text
    assert api.state().people == 1
    # Spacing and key order of the JSON are not another request.
    spaced = api.client.post(
        "/people",
        content=b'{ "name" : "Ada" }',
        headers={**_keyed(api, "k-2"), "Content-Type": "application/json"},
    )
    assert spaced.status_code == 201 and spaced.content == first.content


def test_a_key_is_scoped_to_its_caller(api: ApiHarness) -> None:
    other_admin = make_tokens(api.services.engine)[Role.admin]
    first = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "shared"))
    second = api.client.post(
        "/people",
        json={"name": "Ada"},
        headers={"Authorization": f"Bearer {other_admin}", "Idempotency-Key": "shared"},
    )
    again = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "shared"))
    assert first.status_code == second.status_code == again.status_code == 201
    assert first.json()["id"] != second.json()["id"] and "Idempotent-Replayed" not in second.headers
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"


def test_a_retried_enrollment_adds_its_templates_once(api: ApiHarness, group_faces: list[bytes]) -> None:
    person = api.create_person()
    before = api.state()

    def upload(photo: bytes) -> httpx.Response:
        files = [("photos", ("face.jpg", photo, "image/jpeg"))]
        return api.client.post(f"/people/{person}/faces", files=files, headers=_keyed(api, "enrol-1"))

    first, again, other = upload(group_faces[0]), upload(group_faces[0]), upload(group_faces[1])
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert other.status_code == 422 and other.json()["status"] == "idempotency_key_reused"
    after = api.state()
    assert after.templates == before.templates + 1
    assert after.gallery_version == before.gallery_version + 1


@pytest.mark.parametrize("remove", ["delete", "erase"])
def test_deleting_or_erasing_a_person_removes_the_answers_naming_them(api: ApiHarness, remove: str) -> None:
    """A stored answer holds the person's name: it must not outlive their erasure for the retention."""
    person = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "p")).json()["id"]
    files = [("photos", ("face.jpg", b"not a photo", "image/jpeg"))]
    api.client.post(f"/people/{person}/faces", files=files, headers=_keyed(api, "refused"))  # 422: not stored
    api.client.post("/doors", json={"name": "hall"}, headers=_keyed(api, "d"))
    assert _stored_keys(api.services.engine) == 2
    admin = api.auth(Role.admin)
    if remove == "delete":
        gone = api.client.delete(f"/people/{person}", headers=admin)
    else:
        gone = api.client.post(f"/people/{person}/erase", headers=admin)
    assert gone.status_code in (200, 204), gone.text
    assert _stored_keys(api.services.engine) == 1  # the door's answer stays


def _stored_answers(engine: Engine) -> list[tuple[str, int | None, str]]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT route, person_id, response_json FROM idempotent_response"))
        return [(route, person_id, body) for route, person_id, body in rows]


def test_a_retried_erasure_replays_its_report_and_erases_nothing_more(api: ApiHarness) -> None:
    """The retry of an erasure that committed answered 404: the client could not tell it had happened."""
    admin = api.auth(Role.admin)
    person = api.create_person("Ada Lovelace")
    group = api.client.post("/access/groups", json={"name": "staff"}, headers=admin).json()["id"]
    assert api.client.put(f"/access/groups/{group}/members/{person}", headers=admin).status_code == 200
    first = api.client.post(f"/people/{person}/erase", headers=_keyed(api, "erase-1"))
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers, first.text
    assert first.json()["group_memberships_removed"] == 1
    api.create_person("Grace")  # on SQLite it may take the erased person's id
    before = api.state()
    again = api.client.post(f"/people/{person}/erase", headers=_keyed(api, "erase-1"))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", again.text
    assert again.content == first.content
    assert api.state() == before
    # What is kept: the report as it was answered (ids and counts), tied to no person, never their name.
    [(route, person_id, body)] = _stored_answers(api.services.engine)
    assert (route, person_id) == ("POST /people/{person_id}/erase", None)
    assert json.loads(body) == first.json() and "Ada" not in body


def test_an_erasure_key_sent_with_another_request_is_refused_and_erases_nobody(api: ApiHarness) -> None:
    ada, grace = api.create_person("Ada"), api.create_person("Grace")
    assert api.client.post(f"/people/{ada}/erase", headers=_keyed(api, "erase-2")).status_code == 200
    other = api.client.post(f"/people/{grace}/erase", headers=_keyed(api, "erase-2"))
    assert other.status_code == 422 and other.json()["status"] == "idempotency_key_reused", other.text
    created = api.client.post("/people", json={"name": "Alan"}, headers=_keyed(api, "create-1"))
    assert created.status_code == 201, created.text
    erased = api.client.post(f"/people/{grace}/erase", headers=_keyed(api, "create-1"))
    assert erased.status_code == 422 and erased.json()["status"] == "idempotency_key_reused", erased.text
    assert api.client.get(f"/people/{grace}", headers=api.auth(Role.admin)).status_code == 200
    assert api.state().people == 2


def test_a_retried_door_rename_replays_what_knows_the_old_name(api: ApiHarness) -> None:
    """Retried without its answer, a rename that committed said the door's new name was its former one and
    that no device key served it: the admin was told nothing needed reconfiguring."""
    admin = api.auth(Role.admin)
    door = api.client.post("/doors", json={"name": "lab"}, headers=admin).json()["id"]
    device = {"role": "device", "label": "lab gate", "doors": ["lab"]}
    token_id = api.client.post("/api-keys", json=device, headers=admin).json()["token_id"]
    first, again = (
        api.client.patch(f"/doors/{door}", json={"name": "lab-2"}, headers=_keyed(api, "rename-1"))
        for _ in range(2)
    )
    assert first.status_code == 200, first.text
    assert (first.json()["former_name"], first.json()["device_token_ids"]) == ("lab", [token_id])
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true", again.text
    assert again.content == first.content
    other = api.client.patch(f"/doors/{door}", json={"name": "lab-3"}, headers=_keyed(api, "rename-1"))
    assert other.status_code == 422 and other.json()["status"] == "idempotency_key_reused", other.text
    [listed] = api.client.get("/doors", headers=admin).json()["items"]
    assert listed["name"] == "lab-2"


@pytest.mark.parametrize("create", ["group", "door", "rule"])
def test_the_other_create_routes_replay_a_retry(api: ApiHarness, create: str) -> None:
    """A retried rule was stored twice; a retried group or door got 409 for its own name."""
    group = api.client.post("/access/groups", json={"name": "staff"}, headers=api.auth(Role.admin)).json()
    rule = {"door": "lab", "create_door": True, "group_id": group["id"], "weekdays": ["mon"]}
    path, body, listed = {
        "group": ("/access/groups", {"name": "visitors"}, "/access/groups"),
        "door": ("/doors", {"name": "hall"}, "/doors"),
        "rule": ("/access/rules", rule | {"start": "08:00", "end": "18:00"}, "/access/rules"),
    }[create]
    answers = [api.client.post(path, json=body, headers=_keyed(api, f"{create}-1")) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [201, 201], answers[1].text
    assert answers[1].content == answers[0].content and answers[1].headers["Idempotent-Replayed"] == "true"
    total = api.client.get(listed, headers=api.auth(Role.admin)).json()["total"]
    assert total == {"group": 2, "door": 1, "rule": 1}[create]


@dataclass
class WallClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> Iterator[tuple[ApiHarness, WallClock]]:
    clock = WallClock(datetime(2026, 12, 6, 12, tzinfo=UTC))
    services = make_services(engine, keyring, recognizer, clock=clock)
    settings = ApiSettings(idempotency_retention_s=3600)
    with TestClient(create_app(services, settings=settings)) as client:
        wait_for_gallery(services)
        yield ApiHarness(client=client, services=services, tokens=make_tokens(engine)), clock


def test_a_key_expires_after_the_retention_and_is_purged(clocked: tuple[ApiHarness, WallClock]) -> None:
    api, clock = clocked
    first = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "old"))
    clock.now += timedelta(minutes=59)
    kept = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "old"))
    clock.now += timedelta(minutes=2)
    expired = api.client.post("/people", json={"name": "Grace"}, headers=_keyed(api, "other"))
    assert first.status_code == kept.status_code == expired.status_code == 201
    assert kept.content == first.content and kept.headers["Idempotent-Replayed"] == "true"
    assert _stored_keys(api.services.engine) == 1  # "old" was purged by the next keyed request
    again = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "old"))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]


def test_openapi_documents_the_header_on_the_keyed_routes(api: ApiHarness) -> None:
    schema = api.client.get("/openapi.json", headers=api.auth(Role.admin)).json()
    posted = ("/people", "/people/{person_id}/faces", "/access/groups", "/access/rules", "/doors")
    keyed = [(path, "post") for path in (*posted, "/people/{person_id}/erase")]
    keyed.append(("/doors/{door_id}", "patch"))
    for path, method in keyed:
        operation = schema["paths"][path][method]
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["Idempotency-Key"], path
        assert "Idempotent-Replayed" in headers[0]["description"], path
        assert "idempotency_key_in_flight" in operation["responses"]["409"]["description"], path
    assert all(p["in"] != "header" for p in schema["paths"]["/people"]["get"].get("parameters", []))


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_request_while_the_first_with_its_key_runs_is_refused_with_409(api: ApiHarness) -> None:
    """The first request holds its key until its transaction ends (stood in for by a session holding it)."""
    key_id = api.tokens[Role.admin].split("_")[1]
    held = IdempotentRequest(key_id=key_id, idempotency_key="busy", route="POST /people", request_sha256="x")
    with session_scope(api.services.engine) as session:
        assert find_idempotent_response(session, held, created_since=datetime(2000, 1, 1, tzinfo=UTC)) is None
        busy = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "busy"))
    after = api.client.post("/people", json={"name": "Ada"}, headers=_keyed(api, "busy"))
    assert busy.status_code == 409 and busy.json()["status"] == "idempotency_key_in_flight", busy.text
    assert after.status_code == 201, after.text
    assert api.state().people == 1


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_retry_after_a_lost_commit_answer_creates_exactly_one_person(
    proxied: Proxied, proxy: TcpProxy
) -> None:
    """The COMMIT reaches PostgreSQL, which commits the person and the stored answer together; the answer
    to the COMMIT is lost (503 `commit_unconfirmed`). The retry with the same key gets the first answer."""
    services, through_proxy = proxied.services, proxied.engine
    headers = {**proxied.auth, "Idempotency-Key": "lost-1"}
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        before = db_state(services)
        with losing_the_commit_answer(through_proxy, proxy, after="INSERT INTO PERSON"):
            lost = client.post("/people", json={"name": "Ada"}, headers=headers)
        proxy.restore()
        retried = client.post("/people", json={"name": "Ada"}, headers=headers)
        after = db_state(services)
    assert lost.status_code == 503 and lost.json()["status"] == "commit_unconfirmed", lost.text
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true", retried.text
    assert after.people == before.people + 1


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_retried_enrollment_after_a_lost_commit_answer_adds_its_templates_once(
    proxied: Proxied, proxy: TcpProxy, group_faces: list[bytes]
) -> None:
    """The case the header is for: the upload's COMMIT answer is lost; the retry with its key adds nothing."""
    services, through_proxy, auth = proxied.services, proxied.engine, proxied.auth
    files = [("photos", ("face.jpg", group_faces[0], "image/jpeg"))]
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        person = client.post("/people", json={"name": "Ada"}, headers=auth).json()["id"]
        before = db_state(services)
        keyed = {**auth, "Idempotency-Key": "upload-1"}
        with losing_the_commit_answer(through_proxy, proxy, after="INSERT INTO FACE_TEMPLATE"):
            lost = client.post(f"/people/{person}/faces", files=files, headers=keyed)
        proxy.restore()
        retried = client.post(f"/people/{person}/faces", files=files, headers=keyed)
        after = db_state(services)
    assert lost.status_code == 503 and lost.json()["status"] == "commit_unconfirmed", lost.text
    assert retried.status_code == 201 and retried.headers["Idempotent-Replayed"] == "true", retried.text
    assert after.templates == before.templates + 1


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_retried_erasure_after_a_lost_commit_answer_replays_its_report(
    proxied: Proxied, proxy: TcpProxy
) -> None:
    """The erasure commits and the answer to its COMMIT is lost (503 `commit_unconfirmed`): the retry with
    the same key gets the report; it got 404, and the client could not tell whether the erasure happened."""
    services, through_proxy = proxied.services, proxied.engine
    keyed = {**proxied.auth, "Idempotency-Key": "erase-lost"}
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        person = client.post("/people", json={"name": "Ada"}, headers=proxied.auth).json()["id"]
        with losing_the_commit_answer(through_proxy, proxy, after="DELETE FROM PERSON"):
            lost = client.post(f"/people/{person}/erase", headers=keyed)
        proxy.restore()
        retried = client.post(f"/people/{person}/erase", headers=keyed)
        after = db_state(services)
    assert lost.status_code == 503 and lost.json()["status"] == "commit_unconfirmed", lost.text
    assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true", retried.text
    assert retried.json()["person_id"] == person and after.people == 0
