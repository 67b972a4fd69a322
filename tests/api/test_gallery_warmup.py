"""The shared gallery's full loads off the request path (SQLite, PostgreSQL, real models and photos): a
server loads it as it starts, before a request needs it (the first request used to load it, a minute at
a million templates, and every other got 503 meanwhile), and a later full reload is built aside while
/identify answers from the last complete gallery (it used to answer 503 throughout), never matching
anyone whose removal was committed since."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from api.app import create_app
from api.services import AppServices
from api.settings import ApiSettings
from enrollment import EnrollmentSettings, enroll
from storage import Role, create_person, session_scope
from tests.api.conftest import ApiHarness, wait_for_gallery
from tests.api.test_gallery_loading import ANSWER_S, WAIT_S, _enroll_obama, _photo
from tests.data import knn_examples

LOADER = "gallery-load"  # the service's load thread


def _identify(client: TestClient, api: ApiHarness, probe: str) -> httpx.Response:
    path = knn_examples() / "test" / probe
    files = {"photo": (path.name, path.read_bytes(), "image/jpeg")}
    return client.post("/identify", files=files, headers=api.auth(Role.device))


def _people(response: httpx.Response) -> list[int | None]:
    assert response.status_code == 200, response.text
    return [face["person_id"] for face in response.json()["faces"]]


@contextmanager
def _at_loaders_template_read(services: AppServices, action: Callable[[], None]) -> Iterator[threading.Event]:
    """Runs `action` in the load thread at its first read of the stored templates; the event is set
    once it is reached. On exit, waits for the load to end (it may be running the hook)."""
    reached = threading.Event()

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM face_template" in statement and threading.current_thread().name == LOADER:
            if not reached.is_set():
                reached.set()
                action()

    event.listen(services.engine, "before_cursor_execute", hook)
    try:
        yield reached
    finally:
        wait_for_gallery(services)
        event.remove(services.engine, "before_cursor_execute", hook)


@dataclass(frozen=True)
class _Pause:
    reached: threading.Event
    """Set once the load thread is at its first template read, where it waits for `resume`."""
    resume: threading.Event


@contextmanager
def _loads_paused(services: AppServices) -> Iterator[_Pause]:
    """The load thread's first template read waits until `resume` is set, or until exit."""
    resume = threading.Event()

    def hold() -> None:
        resume.wait(WAIT_S)

    with _at_loaders_template_read(services, hold) as reached:
        try:
            yield _Pause(reached, resume)
        finally:
            resume.set()


@contextmanager
def _server(services: AppServices) -> Iterator[TestClient]:
    """A started app (its lifespan ran) that is stopped on exit; no load thread outlives it."""
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        yield client
    assert not [t for t in threading.enumerate() if t.name == LOADER], "a load thread outlived the server"


def test_a_starting_server_loads_the_gallery_before_its_first_request(api: ApiHarness) -> None:
    obama = _enroll_obama(api)
    started = replace(api.services)  # a server process of its own: nothing loaded
    # Paused before the server starts, resumed before it stops (which would wait for the paused load).
    with ThreadPoolExecutor(1) as pool, _loads_paused(started) as loading, _server(started) as client:
        assert loading.reached.wait(ANSWER_S), "starting the server began no load"
        during = pool.submit(_identify, client, api, "obama1.jpg").result(timeout=ANSWER_S)
        assert client.get("/readyz").status_code == 200  # the process serves meanwhile
        loading.resume.set()
        wait_for_gallery(started)
        assert _people(_identify(client, api, "obama1.jpg")) == [obama]
    assert during.status_code == 503 and during.headers["Retry-After"] == "5"
    assert "loaded in full" in during.json()["detail"]


def test_a_failed_start_load_is_logged_and_retried_by_the_next_request(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    obama = _enroll_obama(api)
    started = replace(api.services)

    def drop_connection() -> None:
        raise OperationalError("SELECT ... FROM face_template", {}, ConnectionError("connection reset"))

    with (
        caplog.at_level(logging.INFO, logger="enrollment.gallery"),
        _at_loaders_template_read(started, drop_connection) as failing,
        _server(started) as client,
    ):
        assert failing.wait(ANSWER_S), "starting the server began no load"
        wait_for_gallery(started)
        (failed,) = [
            r for r in caplog.records if r.name == "enrollment.gallery" and r.levelno >= logging.ERROR
        ]
        assert "gallery load failed" in failed.getMessage() and failed.exc_info is not None
        assert client.get("/healthz").status_code == 200
        retried = _identify(client, api, "obama1.jpg")  # answered the failure; starts the next load
        wait_for_gallery(started)
        assert _people(_identify(client, api, "obama1.jpg")) == [obama]
    assert retried.status_code == 503 and retried.json()["detail"] == "the database is unavailable"


def _enroll_biden(services: AppServices) -> None:
    """Biden enrolled by another process (its own gallery), as the load reads the templates."""
    with session_scope(services.engine) as session:
        biden = create_person(session, name="Biden").id
        assert biden is not None
        enroll(
            session,
            services.keyring,
            services.recognizer,
            person_id=biden,
            photos=[_photo("biden")],
            settings=EnrollmentSettings(),
        )


def test_a_reload_answers_from_the_last_gallery_without_people_removed_since(api: ApiHarness) -> None:
    """The reload here is the log's fallback (df9f44a): Biden, enrolled while the first load read the
    templates, is loaded and then named again by the log, which the gallery cannot apply."""
    obama = _enroll_obama(api)
    started = replace(api.services)
    with (
        ThreadPoolExecutor(1) as pool,
        _at_loaders_template_read(started, lambda: _enroll_biden(api.services)) as enrolling_biden,
        _server(started) as client,
    ):
        assert enrolling_biden.wait(ANSWER_S), "starting the server began no load"
        wait_for_gallery(started)
        with _loads_paused(started) as reloading:
            both = pool.submit(_identify, client, api, "obama_and_biden.jpg").result(timeout=ANSWER_S)
            assert reloading.reached.wait(ANSWER_S), "the change the gallery could not apply began no reload"
            removed = api.client.delete(f"/people/{obama}", headers=api.auth(Role.admin))
            assert removed.status_code == 204, removed.text
            after_removal = pool.submit(_identify, client, api, "obama_and_biden.jpg").result(
                timeout=ANSWER_S
            )
            photo = _photo("obama")
            files = [("photos", (photo.name, photo.data, "image/jpeg"))]
            person = pool.submit(
                client.post, "/people", json={"name": "Obama"}, headers=api.auth(Role.admin)
            ).result(timeout=ANSWER_S)
            assert person.status_code == 201, person.text
            refused = pool.submit(
                client.post,
                f"/people/{person.json()['id']}/faces",
                files=files,
                headers=api.auth(Role.admin),
            ).result(timeout=ANSWER_S)
        wait_for_gallery(started)
        reloaded = _identify(client, api, "obama_and_biden.jpg")
    (biden,) = set(_people(both)) - {obama, None}  # the photo's third face is no one enrolled
    assert set(_people(both)) == {obama, biden, None}  # from the last complete gallery
    assert set(_people(after_removal)) == {biden, None}
    assert all(c["person_id"] != obama for face in after_removal.json()["faces"] for c in face["candidates"])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"  # enrollment needs it whole
    assert set(_people(reloaded)) == {biden, None}


def test_a_reload_the_log_cannot_explain_answers_503_not_the_last_gallery(api: ApiHarness) -> None:
    """After a restore the log cannot say who was removed since the last gallery (anyone may have been):
    /identify answers 503 until the reload is done rather than search it."""
    obama = _enroll_obama(api)
    started = replace(api.services)
    with ThreadPoolExecutor(1) as pool, _server(started) as client:
        wait_for_gallery(started)
        with _loads_paused(started) as reloading:
            with session_scope(api.services.engine) as session:  # what a restore leaves (storage/backup.py)
                session.exec(
                    text("UPDATE gallery_version SET version = version + 1, changes_since = version + 1")
                )
            during = pool.submit(_identify, client, api, "obama1.jpg").result(timeout=ANSWER_S)
            assert reloading.reached.wait(ANSWER_S), "a log that cannot tell began no reload"
        wait_for_gallery(started)
        assert _people(_identify(client, api, "obama1.jpg")) == [obama]
    assert during.status_code == 503 and during.headers["Retry-After"] == "5"


def test_a_server_stopped_during_its_load_stops_it_and_returns(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Shutdown neither abandons a load thread nor waits for the whole load: it stops it at its next
    batch of templates (a million take a minute) and joins it."""
    _enroll_obama(api)
    started = replace(api.services)
    client = TestClient(create_app(started, settings=ApiSettings()))
    with (
        caplog.at_level(logging.INFO, logger="enrollment.gallery"),
        ThreadPoolExecutor(1) as pool,
        _loads_paused(started) as loading,
    ):
        client.__enter__()
        assert loading.reached.wait(ANSWER_S), "starting the server began no load"
        stopping = pool.submit(client.__exit__, None, None, None)
        deadline = time.monotonic() + ANSWER_S
        while "stopping the gallery load under way" not in caplog.messages:
            assert time.monotonic() < deadline, "shutdown did not stop the load"
            time.sleep(0.01)
        loading.resume.set()
        stopping.result(timeout=ANSWER_S)
    assert "gallery load stopped (the server is shutting down)" in caplog.messages
    assert not started.gallery.is_loading
    assert not [t for t in threading.enumerate() if t.name == LOADER]
