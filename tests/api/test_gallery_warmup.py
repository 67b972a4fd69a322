"""The shared gallery's full loads off the request path (SQLite, PostgreSQL, real models and photos): a
server loads it as it starts, before a request needs it (the first request used to load it, a minute at
a million templates, and every other got 503 meanwhile), and is not ready until then; a failed load is
retried after a backoff, not by every request; and a later full reload is built aside while /identify
answers from the last complete gallery (it used to answer 503 throughout), never matching anyone whose
removal was committed since."""

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
    return client.post("/identify", files=files, headers=api.auth(Role.admin))  # searches everyone


def _people(response: httpx.Response) -> list[int | None]:
    assert response.status_code == 200, response.text
    return [face["person_id"] for face in response.json()["faces"]]


@contextmanager
def _at_loaders_template_reads(services: AppServices, action: Callable[[], None]) -> Iterator[None]:
    """Runs `action` in the load thread at each of its reads of the stored templates. On exit, waits
    for the load to end (it may be running the hook)."""

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM face_template" in statement and threading.current_thread().name == LOADER:
            action()

    event.listen(services.engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        wait_for_gallery(services)
        event.remove(services.engine, "before_cursor_execute", hook)


@contextmanager
def _at_loaders_template_read(services: AppServices, action: Callable[[], None]) -> Iterator[threading.Event]:
    """Runs `action` in the load thread at its first read of the stored templates; the event is set
    once it is reached. On exit, waits for the load to end."""
    reached = threading.Event()

    def once() -> None:
        if not reached.is_set():
            reached.set()
            action()

    with _at_loaders_template_reads(services, once):
        yield reached


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
    """And is not ready until it is loaded (a load balancer would send it /identify calls it can only
    answer 503), while it is alive throughout (an orchestrator must not restart a warming server)."""
    obama = _enroll_obama(api)
    started = replace(api.services)  # a server process of its own: nothing loaded
    # Paused before the server starts, resumed before it stops (which would wait for the paused load).
    with ThreadPoolExecutor(1) as pool, _loads_paused(started) as loading, _server(started) as client:
        assert loading.reached.wait(ANSWER_S), "starting the server began no load"
        during = pool.submit(_identify, client, api, "obama1.jpg").result(timeout=ANSWER_S)
        warming, alive = client.get("/readyz"), client.get("/healthz")
        loading.resume.set()
        wait_for_gallery(started)
        assert _people(_identify(client, api, "obama1.jpg")) == [obama]
        ready = client.get("/readyz")
    assert during.status_code == 503 and during.headers["Retry-After"] == "5"
    assert "loaded in full" in during.json()["detail"]
    assert warming.status_code == 503 and warming.headers["Retry-After"] == "5"
    assert warming.json() == {"status": "loading"}  # a status word, nothing else
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_the_routes_that_need_the_gallery_document_their_503(api: ApiHarness) -> None:
    """/identify and enrollment answer 503 while the gallery loads; their OpenAPI responses said only
    413 and 422, so a client generated from the schema had no case for it."""
    obama = _enroll_obama(api)
    started = replace(api.services)
    photo = _photo("biden")
    with ThreadPoolExecutor(1) as pool, _loads_paused(started) as loading, _server(started) as client:
        assert loading.reached.wait(ANSWER_S), "starting the server began no load"
        answers = {
            ("/identify", "post"): pool.submit(_identify, client, api, "obama1.jpg"),
            ("/people/{person_id}/faces", "post"): pool.submit(
                client.post,
                f"/people/{obama}/faces",
                files=[("photos", (photo.name, photo.data, "image/jpeg"))],
                headers=api.auth(Role.admin),
            ),
        }
        statuses = {route: answer.result(timeout=ANSWER_S).status_code for route, answer in answers.items()}
        schema = client.app.openapi()  # type: ignore[attr-defined]
        loading.resume.set()  # before the server stops, which would wait for the paused load
        wait_for_gallery(started)
    for (path, method), status_code in statuses.items():
        assert status_code == 503, path
        assert str(status_code) in schema["paths"][path][method]["responses"], path


class _Clock:
    """The service's monotonic clock, moved by the test: no backoff is waited out for real."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def _failed(response: httpx.Response) -> int:
    """The wait a 503 for a failed load gives (its Retry-After), after checking it is one."""
    assert response.status_code == 503, response.text
    body = response.json()
    assert body == {"status": "failed"} or "could not be loaded" in body.get("detail", ""), body
    return int(response.headers["Retry-After"])


def test_a_failed_load_is_retried_after_a_backoff_not_by_every_request(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed load (the database connection lost here; a wrong key alike) used to be retried by the
    next request, and so on: under traffic the whole gallery was read again and again. Now the first
    request or readiness probe after a backoff (1 s, doubling to 60 s) retries it; until then both are
    answered 503 with the wait left, and a success resets the backoff."""
    obama = _enroll_obama(api)
    clock = _Clock()
    started = replace(api.services, monotonic=clock)
    failed_loads: list[float] = []
    is_down = threading.Event()
    is_down.set()

    def drop_connection() -> None:
        if is_down.is_set():
            failed_loads.append(clock.now_s)
            raise OperationalError("SELECT ... FROM face_template", {}, ConnectionError("connection reset"))

    with (
        caplog.at_level(logging.INFO, logger="enrollment.gallery"),
        _at_loaders_template_reads(started, drop_connection),
        _server(started) as client,
    ):
        wait_for_gallery(started)  # the start's load fails
        first = [
            client.get("/readyz"),
            _identify(client, api, "obama1.jpg"),
            _identify(client, api, "obama1.jpg"),
        ]
        waits_s = []
        for retry in range(8):
            wait_s = _failed(client.get("/readyz"))
            waits_s.append(wait_s)
            clock.now_s += wait_s - 0.5
            assert _failed(client.get("/readyz")) == 1 and not started.gallery.is_loading
            assert len(failed_loads) == retry + 1  # none started in the backoff
            clock.now_s += 0.5
            # The retry: by a request or by the readiness probe (a replica out of rotation gets no requests).
            retrying = _identify(client, api, "obama1.jpg") if retry == 1 else client.get("/readyz")
            assert retrying.status_code == 503 and retrying.headers["Retry-After"] == "5", retrying.text
            wait_for_gallery(started)
        is_down.clear()
        clock.now_s += _failed(client.get("/readyz"))
        assert client.get("/readyz").json() == {"status": "loading"}  # starts the retry, which succeeds
        wait_for_gallery(started)
        ready = client.get("/readyz")
        found = _identify(client, api, "obama1.jpg")
        is_down.set()
        with session_scope(api.services.engine) as session:  # a reload the log cannot give (a restore)
            session.exec(
                text("UPDATE gallery_version SET version = version + 1, changes_since = version + 1")
            )
        reloading = _identify(client, api, "obama1.jpg")
        wait_for_gallery(started)
        after_reset = _identify(client, api, "obama1.jpg")
        still_ready = client.get("/readyz")
    assert [_failed(response) for response in first] == [1, 1, 1]
    assert waits_s == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [
        b - a for a, b in zip(failed_loads, failed_loads[1:9], strict=False)
    ] == waits_s  # when each began
    assert len(failed_loads) == 10  # the start's, 8 retries, the failed reload
    failures = [r for r in caplog.records if r.name == "enrollment.gallery" and r.levelno >= logging.ERROR]
    assert len(failures) == 10 and all(r.exc_info is not None for r in failures)
    assert "gallery load failed" in failures[0].getMessage()
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}
    assert _people(found) == [obama]
    assert reloading.status_code == 503 and reloading.headers["Retry-After"] == "5"
    assert _failed(after_reset) == 1  # the backoff starts again at 1 s after a success
    # Not ready on its last complete gallery when, as here, the log cannot name the removals since it:
    # /identify answers 503 (test_ready_after_restore.py).
    assert still_ready.json() == {"status": "failed"} and _failed(still_ready) == 1


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
    /identify answers 503 until the reload is done rather than search it, and /readyz says `loading`
    meanwhile (it said ready)."""
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
            not_ready = client.get("/readyz")
        wait_for_gallery(started)
        assert _people(_identify(client, api, "obama1.jpg")) == [obama]
        ready = client.get("/readyz")
    assert during.status_code == 503 and during.headers["Retry-After"] == "5"
    assert not_ready.status_code == 503 and not_ready.headers["Retry-After"] == "5"
    assert not_ready.json() == {"status": "loading"}
    assert ready.json() == {"status": "ready"}


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
