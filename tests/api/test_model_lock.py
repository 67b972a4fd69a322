"""An enrollment waiting on the database holds up no other request's face recognition (SQLite, PostgreSQL).

Only the models need the process's recognizer lock; an enrollment that held it across its transaction
stalled every /identify and every other enrollment for as long as the database kept it waiting.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import ApiSettings
from storage import Engine, Role, lock_gallery_version, session_scope
from tests.api.conftest import ApiHarness
from tests.data import knn_examples

WAIT_S = 60.0  # generous: the shared machine is heavily loaded
ANSWER_S = 20.0  # for a request that is not held up (the shared machine's models can take seconds)
QUEUED_S = 3.0  # for a request to reach the recognizer lock (auth, upload, decode)


@pytest.fixture
def sqlite_busy_timeout_s() -> float:
    """The enrollment on SQLite outwaits the held gallery lock (the `engine` fixture's setting)."""
    return WAIT_S


def _photo(path: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("photos", (path.name, path.read_bytes(), "image/jpeg"))]


@contextmanager
def _gallery_version_held(engine: Engine) -> Iterator[threading.Event]:
    """Another connection holds the gallery version row (SQLite: the write lock) until exit; the event
    is set once an enrollment has asked for it too (and so waits)."""
    asked = threading.Event()

    def watch(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "gallery_version" in statement and ("FOR UPDATE" in statement or statement.startswith("UPDATE")):
            asked.set()

    with session_scope(engine) as holder:
        lock_gallery_version(holder)
        event.listen(engine, "before_cursor_execute", watch)
        try:
            yield asked
        finally:
            event.remove(engine, "before_cursor_execute", watch)


def _identify(client: TestClient, api: ApiHarness) -> httpx.Response:
    probe = knn_examples() / "test" / "obama1.jpg"
    files = {"photo": (probe.name, probe.read_bytes(), "image/jpeg")}
    return client.post("/identify", files=files, headers=api.auth(Role.admin))  # searches everyone


def _enroll_group_photo(client: TestClient, api: ApiHarness, person_id: int) -> httpx.Response:
    photos = _photo(knn_examples() / "test" / "kit_with_rose.jpg")  # two faces: refused by detection alone
    return client.post(f"/people/{person_id}/faces", files=photos, headers=api.auth(Role.admin))


@pytest.mark.parametrize("other_request", ["identify", "refused enrollment"])
def test_a_request_needing_the_models_answers_while_an_enrollment_waits_for_the_gallery_lock(
    api: ApiHarness, other_request: str
) -> None:
    train = knn_examples() / "train"
    obama, biden, kit = (api.create_person(name) for name in ("Obama", "Biden", "Kit"))
    admin = api.auth(Role.admin)
    enrolled = api.client.post(
        f"/people/{obama}/faces", files=_photo(train / "obama" / "obama.jpg"), headers=admin
    )
    assert enrolled.status_code == 201, enrolled.text
    assert _identify(api.client, api).json()["faces"][0]["person_id"] == obama  # gallery loaded, key used
    app = create_app(api.services, settings=ApiSettings())
    enroller, other = TestClient(app), TestClient(app)  # one event loop each, as two HTTP clients

    def enroll_biden() -> httpx.Response:
        photos = _photo(train / "biden" / "biden.jpg")
        return enroller.post(f"/people/{biden}/faces", files=photos, headers=admin)

    def ask() -> httpx.Response:
        return _identify(other, api) if other_request == "identify" else _enroll_group_photo(other, api, kit)

    with ThreadPoolExecutor(2) as pool:
        enrolling: Future[httpx.Response]
        with _gallery_version_held(api.services.engine) as asked:
            enrolling = pool.submit(enroll_biden)
            assert asked.wait(WAIT_S), "the enrollment never reached the gallery version row"
            asking = pool.submit(ask)
            try:
                answer = asking.result(timeout=ANSWER_S)
            finally:
                is_enrollment_waiting = not enrolling.done()
        assert enrolling.result(timeout=WAIT_S).status_code == 201
    assert is_enrollment_waiting, "the enrollment was not waiting on the database after all"
    if other_request == "identify":
        assert answer.status_code == 200, answer.text
        assert answer.json()["faces"][0]["person_id"] == obama
    else:
        assert answer.status_code == 422, answer.text
        assert "several faces" in answer.json()["problems"][0]["reason"]


def test_identify_waiting_for_the_models_holds_no_database_connection(api: ApiHarness) -> None:
    """A queue of /identify requests behind the recognizer lock must not fill the connection pool."""
    obama = api.create_person("Obama")
    photo = _photo(knn_examples() / "train" / "obama" / "obama.jpg")
    assert (
        api.client.post(f"/people/{obama}/faces", files=photo, headers=api.auth(Role.admin)).status_code
        == 201
    )
    assert _identify(api.client, api).status_code == 200  # the key's use recorded, the gallery loaded
    read_gallery = threading.Event()

    def watch(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM gallery_version" in statement:
            read_gallery.set()

    other = TestClient(create_app(api.services, settings=ApiSettings()))
    event.listen(api.services.engine, "before_cursor_execute", watch)
    try:
        with ThreadPoolExecutor(1) as pool:
            with api.services.recognizer_lock:  # another request's models at work
                asking = pool.submit(_identify, other, api)
                is_read_while_queued = read_gallery.wait(QUEUED_S)
            answer = asking.result(timeout=WAIT_S)
    finally:
        event.remove(api.services.engine, "before_cursor_execute", watch)
    assert not is_read_while_queued, "the request read the gallery, holding a connection, while it waited"
    assert answer.status_code == 200, answer.text
    assert answer.json()["faces"][0]["person_id"] == obama
