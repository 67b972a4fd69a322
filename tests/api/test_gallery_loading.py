"""The shared gallery's full load (SQLite, PostgreSQL): a first load of a million templates takes about a
minute. Another request needing the gallery meanwhile is answered at once (every /identify used to wait it
out, each holding one of the server's worker threads), and an enrollment loads it before it holds the
gallery version row (SQLite: the database's write lock), not under it."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import ApiSettings
from enrollment import EnrollmentSettings, GalleryService, Photo, enroll, enroll_new_person
from storage import Engine, Role, create_person, list_people, lock_gallery_version, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.data import knn_examples

WAIT_S = 60.0  # generous: the shared machine is heavily loaded
ANSWER_S = 20.0  # for a request that is not held up (the shared machine's models can take seconds)


def _identify(client: TestClient, api: ApiHarness) -> httpx.Response:
    probe = knn_examples() / "test" / "obama1.jpg"
    files = {"photo": (probe.name, probe.read_bytes(), "image/jpeg")}
    return client.post("/identify", files=files, headers=api.auth(Role.admin))  # searches everyone


def _photo(person: str) -> Photo:
    path = knn_examples() / "train" / person / f"{person}.jpg"
    return Photo(path.name, path.read_bytes())


def _enroll_obama(api: ApiHarness) -> int:
    obama = api.create_person("Obama")
    photo = _photo("obama")
    files = [("photos", (photo.name, photo.data, "image/jpeg"))]
    response = api.client.post(f"/people/{obama}/faces", files=files, headers=api.auth(Role.admin))
    assert response.status_code == 201, response.text
    return obama


@contextmanager
def _first_load_paused(engine: Engine) -> Iterator[tuple[ThreadPoolExecutor, threading.Event]]:
    """Threads for the requests, and an event set once the first read of the stored templates (a full
    load's) is reached; that read waits until exit, where the load resumes and every thread ends."""
    loading, resume = threading.Event(), threading.Event()

    def pause(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM face_template" in statement and not loading.is_set():
            loading.set()
            resume.wait(WAIT_S)

    event.listen(engine, "before_cursor_execute", pause)
    try:
        with ThreadPoolExecutor(2) as pool:
            try:
                yield pool, loading
            finally:
                resume.set()
    finally:
        event.remove(engine, "before_cursor_execute", pause)  # no request is running any more


def test_identify_answers_503_while_another_request_loads_the_gallery(api: ApiHarness) -> None:
    obama = _enroll_obama(api)
    started = replace(api.services)  # a server just started: a GalleryService of its own, nothing loaded
    first, second = (TestClient(create_app(started, settings=ApiSettings())) for _ in range(2))
    with _first_load_paused(api.services.engine) as (pool, loading):
        loader = pool.submit(_identify, first, api)
        assert loading.wait(WAIT_S), "the first /identify did not start loading the gallery"
        answer = pool.submit(_identify, second, api).result(timeout=ANSWER_S)
    loaded = loader.result()
    assert answer.status_code == 503, answer.text
    assert "loaded in full" in answer.json()["detail"] and answer.headers["Retry-After"] == "5"
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["faces"][0]["person_id"] == obama
    again = _identify(second, api)
    assert again.status_code == 200 and again.json()["faces"][0]["person_id"] == obama


def _hold_the_version_row(engine: Engine) -> None:
    with session_scope(engine) as session:
        lock_gallery_version(session)


@pytest.mark.parametrize("new_person", [False, True], ids=["enroll", "enroll_new_person"])
def test_an_enrollment_loads_the_gallery_before_it_holds_the_version_row(
    api: ApiHarness, new_person: bool
) -> None:
    _enroll_obama(api)
    services = api.services
    shared = GalleryService(services.keyring, services.recognizer)  # a server's, not loaded yet
    with session_scope(services.engine) as session:
        biden = create_person(session, name="Biden").id
    assert biden is not None

    def enroll_biden() -> list[str]:
        parts = (services.keyring, services.recognizer)
        photos, settings = [_photo("biden")], EnrollmentSettings()
        with session_scope(services.engine) as session:
            if new_person:
                return enroll_new_person(
                    session, *parts, name="Biden", photos=photos, settings=settings, gallery=shared
                )[1].template_ids
            return enroll(
                session, *parts, person_id=biden, photos=photos, settings=settings, gallery=shared
            ).template_ids

    with _first_load_paused(services.engine) as (pool, loading):
        enrolling = pool.submit(enroll_biden)
        assert loading.wait(WAIT_S), "the enrollment did not start loading the gallery"
        pool.submit(_hold_the_version_row, services.engine).result(timeout=ANSWER_S)
    assert len(enrolling.result()) == 1


def test_a_console_enrollment_while_the_gallery_loads_is_refused_in_its_page(api: ApiHarness) -> None:
    """The console's forms get the refusal as their page (503, Retry-After, the name kept), not the API's
    JSON body; nothing is stored, and the same form succeeds once the gallery is loaded."""
    _enroll_obama(api)
    started = replace(api.services)
    loader_client, console = (TestClient(create_app(started, settings=ApiSettings())) for _ in range(2))
    csrf = sign_in(console, api.tokens[Role.admin])
    photo = _photo("biden")
    form = {"csrf_token": csrf, "name": "Joe Biden"}
    files = [("photos", (photo.name, photo.data, "image/jpeg"))]
    with _first_load_paused(api.services.engine) as (pool, loading):
        loader = pool.submit(_identify, loader_client, api)
        assert loading.wait(WAIT_S), "the /identify did not start loading the gallery"
        refused = pool.submit(console.post, "/ui/people", data=form, files=files).result(timeout=ANSWER_S)
    assert loader.result().status_code == 200
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.headers["content-type"].startswith("text/html")
    page = html.unescape(refused.text)
    assert '<p class="error" role="alert">' in page and "loaded in full" in page
    assert 'value="Joe Biden"' in page
    with session_scope(api.services.engine) as session:
        assert [p.name for p in list_people(session)[0]] == ["Obama"]
    enrolled = console.post("/ui/people", data=form, files=files, follow_redirects=False)
    assert enrolled.status_code == 303, enrolled.text
