"""Every route while the database cannot be reached (really: the test PostgreSQL cut away by a TCP proxy,
a SQLite file in a directory that does not exist): 503 `{"status": "database_unavailable", ...}` with
Retry-After, the word /readyz answers, and one warning line without a traceback for a burst of them; the
console shows it as a page. They answered `{"detail": "the database is unavailable"}` without Retry-After
and logged an error with a traceback for every request. Once the database is back, the same server answers."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text

from api import AppServices
from api.app import create_app
from recognition import Recognizer
from storage import Engine, Keyring, Role, make_engine
from tests.api.conftest import ApiHarness, Proxied, db_state, make_services, make_tokens, wait_for_gallery
from tests.api.test_console import sign_in
from tests.gate.pg_proxy import TcpProxy

UNAVAILABLE = {
    "status": "database_unavailable",
    "detail": "the database cannot be reached: the request was not carried out and nothing of it was "
    "stored; retry after Retry-After seconds",
}


@dataclass
class ManualClock:
    """The app's monotonic clock, moved by the test (the warning lines' rate limit)."""

    now_s: float = 0.0

    def __call__(self) -> float:
        return self.now_s


Call = Callable[[TestClient, dict[str, str], int, bytes], httpx.Response]

ROUTES: dict[str, Call] = {
    "GET /people": lambda client, auth, _person, _photo: client.get("/people", headers=auth),
    "POST /identify": lambda client, auth, _person, photo: client.post(
        "/identify", files={"photo": ("probe.jpg", photo, "image/jpeg")}, headers=auth
    ),
    "GET /events": lambda client, auth, _person, _photo: client.get("/events", headers=auth),
    "GET /events/export.csv": lambda client, auth, _person, _photo: client.get(
        "/events/export.csv", headers=auth
    ),
    "POST /people/{id}/faces": lambda client, auth, person, photo: client.post(
        f"/people/{person}/faces", files=[("photos", ("face.jpg", photo, "image/jpeg"))], headers=auth
    ),
}


def _database_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, bool, str]]:
    return [
        (r.levelno, r.exc_info is not None, r.getMessage())
        for r in caplog.records
        if r.name.startswith("api") and "DatabaseUnavailable" in r.getMessage()
    ]


def _assert_unavailable(answers: dict[str, httpx.Response]) -> None:
    for name, answer in answers.items():
        assert answer.status_code == 503, (name, answer.text)
        assert answer.json() == UNAVAILABLE, name
        assert answer.headers["Retry-After"] == "5", name


def test_every_route_answers_an_unreachable_sqlite_file_with_503_and_retry_after(
    tmp_path: Path,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'facegate.db'}")
    auth = {"Authorization": "Bearer fg_abc_def"}
    with TestClient(create_app(make_services(engine, keyring, recognizer))) as client:
        with caplog.at_level(logging.WARNING, logger="api"):
            answers = {name: call(client, auth, 1, group_faces[0]) for name, call in ROUTES.items()}
    engine.dispose()
    _assert_unavailable(answers)
    lines = _database_lines(caplog)
    assert len(lines) == 1 and lines[0][:2] == (logging.WARNING, False), lines
    assert "facegate.db" not in "".join(answer.text for answer in answers.values())


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_route_answers_a_cut_away_database_with_503_and_recovers(
    engine: Engine,
    database_url: str,
    proxy: TcpProxy,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A burst of answers logs one warning line; the next one after the rate limit's 10 s counts the
    rest. The database back, the same server answers again, and a dropped table is no outage either: 503
    `schema_missing` without Retry-After (tests/api/test_schema_missing.py)."""
    clock = ManualClock()
    proxied = make_engine(proxy.url_for(database_url))  # `engine` migrated the database behind it
    services = replace(make_services(proxied, keyring, recognizer), monotonic=clock)
    auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.admin]}"}
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        wait_for_gallery(services)
        person = client.post("/people", json={"name": "Ada"}, headers=auth).json()["id"]
        proxy.cut()
        with caplog.at_level(logging.WARNING, logger="api"):
            answers = {name: call(client, auth, person, group_faces[0]) for name, call in ROUTES.items()}
            burst = _database_lines(caplog)
            clock.now_s += 10.0
            later = client.get("/people", headers=auth)
        proxy.restore()
        back = {name: call(client, auth, person, group_faces[0]) for name, call in ROUTES.items()}
        with proxied.begin() as connection:  # a table the code expects is gone: no outage
            connection.execute(text("DROP TABLE access_group CASCADE"))
        dropped = client.get("/access/groups", headers=auth)
    proxied.dispose()
    _assert_unavailable(answers | {"later": later})
    assert len(burst) == 1 and burst[0][:2] == (logging.WARNING, False), burst
    assert burst[0][2].startswith("GET /people answered 503, retry after 5 s: DatabaseUnavailable: ")
    lines = _database_lines(caplog)
    assert len(lines) == 2 and lines[1][:2] == (logging.WARNING, False), lines
    assert lines[1][2].endswith(f"({len(ROUTES) - 1} more since the last such line)")
    assert {name: answer.status_code for name, answer in back.items()} == {
        "GET /people": 200,
        "POST /identify": 200,
        "GET /events": 200,
        "GET /events/export.csv": 200,
        "POST /people/{id}/faces": 201,
    }
    assert dropped.status_code == 503 and dropped.json()["status"] == "schema_missing"
    assert "Retry-After" not in dropped.headers


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_enrollment_cut_off_while_it_writes_says_nothing_was_stored(
    proxied: Proxied, proxy: TcpProxy, group_faces: list[bytes]
) -> None:
    """The connection is reset as the template is written (after the key check and the photo's
    detection): 503 saying nothing was stored, and nothing was; the same upload then succeeds."""
    services, auth = proxied.services, proxied.auth

    def cut_at_the_template(_connection: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FACE_TEMPLATE"):
            proxy.cut()

    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        person = client.post("/people", json={"name": "Ada"}, headers=auth).json()["id"]
        before = db_state(services)
        upload = ROUTES["POST /people/{id}/faces"]
        event.listen(proxied.engine, "before_cursor_execute", cut_at_the_template)
        cut = upload(client, auth, person, group_faces[0])
        event.remove(proxied.engine, "before_cursor_execute", cut_at_the_template)
        proxy.restore()
        after = db_state(services)
        again = upload(client, auth, person, group_faces[0])
        stored = db_state(services)
    assert cut.status_code == 503 and cut.json() == UNAVAILABLE and cut.headers["Retry-After"] == "5"
    assert after == before
    assert again.status_code == 201, again.text
    assert stored.templates == before.templates + 1


def _client_port(connection: Connection) -> int:
    """The local TCP port of `connection`'s psycopg socket: the proxy's name for it."""
    fd = connection.connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]
    with socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as sock:  # a duplicate, closed here
        return int(sock.getsockname()[1])


@contextmanager
def losing_the_commit_answer(engine: Engine, proxy: TcpProxy, *, after: str) -> Iterator[None]:
    """While in the block, the answer to the first COMMIT after a statement starting with `after` (say
    `INSERT INTO PERSON`) is lost with every connection: the database commits, the client cannot tell."""
    wrote: list[str] = []

    def note(_connection: Connection, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(after):
            wrote.append(statement)

    def lose_the_answer(connection: Connection) -> None:
        if wrote:
            wrote.clear()
            proxy.lose_next_reply(_client_port(connection))

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", lose_the_answer)
    try:
        yield
    finally:
        event.remove(engine, "commit", lose_the_answer)
        event.remove(engine, "before_cursor_execute", note)


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_enrollment_whose_commit_answer_is_lost_says_it_may_be_stored(
    proxied: Proxied, proxy: TcpProxy, group_faces: list[bytes]
) -> None:
    """The COMMIT reaches PostgreSQL, which commits, and its answer is lost with the connection. It was
    answered as an outage, 'nothing of it was stored; retry after Retry-After seconds': a client doing as
    told stored the templates twice."""
    services, auth = proxied.services, proxied.auth
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        person = client.post("/people", json={"name": "Ada"}, headers=auth).json()["id"]
        before = db_state(services)
        with losing_the_commit_answer(proxied.engine, proxy, after="INSERT INTO FACE_TEMPLATE"):
            lost = ROUTES["POST /people/{id}/faces"](client, auth, person, group_faces[0])
        proxy.restore()
        after = db_state(services)
    assert lost.status_code == 503, lost.text
    assert lost.json()["status"] == "commit_unconfirmed" and "may or may not" in lost.json()["detail"]
    assert "Retry-After" not in lost.headers
    assert after.templates == before.templates + 1  # it was stored: "nothing was stored" was false


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_console_pages_show_a_page_while_the_database_is_cut_away(
    engine: Engine, proxy: TcpProxy, proxied_services: AppServices
) -> None:
    token = make_tokens(engine)[Role.admin]
    with TestClient(create_app(proxied_services)) as client:
        sign_in(client, token)
        proxy.cut()
        pages = {path: client.get(path) for path in ("/ui/people", "/ui/events", "/ui/events/export.csv")}
        proxy.restore()
        back = client.get("/ui/people")
    for path, page in pages.items():
        assert page.status_code == 503 and page.headers["Retry-After"] == "5", path
        assert page.headers["content-type"].startswith("text/html"), path
        assert "<h1>Unavailable</h1>" in page.text and UNAVAILABLE["detail"] in page.text, path
        assert "Try again in 5 seconds." in page.text, path
    assert back.status_code == 200 and "Sign out" in back.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_that_reads_the_database_documents_its_503(api: ApiHarness) -> None:
    """Every authenticated route (its key is looked up in the database) lists the 503 with the status word;
    the gallery's routes, whose 503 replaces it, name the database's too."""
    schema = api.client.get("/openapi.json", headers=api.auth(Role.admin)).json()
    models = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                continue
            answer = operation["responses"].get("503")
            assert answer is not None, (method, path)
            model = answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            words = models[model]["properties"]["status"]["anyOf"][0]["enum"]
            assert words == ["database_unavailable", "schema_missing", "commit_unconfirmed"], (method, path)
            assert "The database cannot be reached" in answer["description"], (method, path)
            assert "`schema_missing`, no Retry-After" in answer["description"], (method, path)
            assert "`commit_unconfirmed`, no Retry-After" in answer["description"], (method, path)
