"""While one request loads the shared gallery in full, another needing it is answered at once (SQLite,
PostgreSQL): a first load of a million templates takes about a minute, and every /identify used to wait
it out, each holding one of the server's worker threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import event

from api.app import create_app
from api.settings import ApiSettings
from storage import Role
from tests.api.conftest import ApiHarness
from tests.data import knn_examples

WAIT_S = 60.0  # generous: the shared machine is heavily loaded
ANSWER_S = 20.0  # for a request that is not held up (the shared machine's models can take seconds)


def _identify(client: TestClient, api: ApiHarness) -> httpx.Response:
    probe = knn_examples() / "test" / "obama1.jpg"
    files = {"photo": (probe.name, probe.read_bytes(), "image/jpeg")}
    return client.post("/identify", files=files, headers=api.auth(Role.device))


def test_identify_answers_503_while_another_request_loads_the_gallery(api: ApiHarness) -> None:
    obama = api.create_person("Obama")
    photo = knn_examples() / "train" / "obama" / "obama.jpg"
    files = [("photos", (photo.name, photo.read_bytes(), "image/jpeg"))]
    assert (
        api.client.post(f"/people/{obama}/faces", files=files, headers=api.auth(Role.admin)).status_code
        == 201
    )
    services = api.services
    started = replace(services)  # a server just started: a GalleryService of its own, nothing loaded
    first, second = (TestClient(create_app(started, settings=ApiSettings())) for _ in range(2))
    loading, resume = threading.Event(), threading.Event()

    def pause_the_load(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM face_template" in statement and not loading.is_set():
            loading.set()
            resume.wait(WAIT_S)

    event.listen(services.engine, "before_cursor_execute", pause_the_load)
    try:
        with ThreadPoolExecutor(2) as pool:
            loader = pool.submit(_identify, first, api)
            assert loading.wait(WAIT_S), "the first /identify did not start loading the gallery"
            waiting = pool.submit(_identify, second, api)
            try:
                answer = waiting.result(timeout=ANSWER_S)
            finally:
                resume.set()
            loaded = loader.result(timeout=WAIT_S)
    finally:
        event.remove(services.engine, "before_cursor_execute", pause_the_load)
    assert answer.status_code == 503, answer.text
    assert "loaded in full" in answer.json()["detail"] and answer.headers["Retry-After"] == "5"
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["faces"][0]["person_id"] == obama
    again = _identify(second, api)
    assert again.status_code == 200 and again.json()["faces"][0]["person_id"] == obama
