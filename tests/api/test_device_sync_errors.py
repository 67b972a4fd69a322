"""An edge gate whose API answers a 5xx that names the server's state (503 `database_unavailable`,
`schema_missing`) says which, with the server's words, in its log and as the reason it denies: it said
'API unreachable: /devices/register: the API answered 503' for both, though only an operator can end the
second. A 5xx without a state (a 500, a proxy's HTML 502) gives its status and the server's words. The API
is the real app under uvicorn; its database really is unreachable or without tables, its keyring wrong."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from api.app import create_app
from gate import ApiGallerySource, GalleryStale
from gate.api_client import ApiClient
from storage import Keyring, Role, bind_device_doors, make_engine, session_scope
from tests.api.conftest import ApiHarness, make_services
from tests.api.console_browser import serving
from tests.api.test_devices import _device_id, _edge_gate, _enroll
from tests.fakes import FakeClock
from tests.gate.edge_support import free_port, wait_for
from tests.storage.test_schema_missing import drop_every_table

_DOWN = (
    "server database unavailable: the database cannot be reached: the request was not carried out and "
    "nothing of it was stored; retry after Retry-After seconds"
)
_NO_SCHEMA = (
    "server schema missing: the database lacks the schema this server needs (never created, dropped or "
    "older): the request was not carried out; an operator must bring it up to date (`facegate init`), "
    "retrying will not help"
)


@contextmanager
def _wrong_key(api: ApiHarness, tmp_path: Path) -> Iterator[FastAPI]:
    """The API whose keyring does not open the templates: 500 for every gallery sync."""
    other_key = Keyring([secrets.token_bytes(32)])
    yield create_app(make_services(api.services.engine, other_key, api.services.recognizer))


@contextmanager
def _on_database(api: ApiHarness, url: str) -> Iterator[FastAPI]:
    """The API, with the harness's keyring and recognizer, on the database at `url`."""
    engine = make_engine(url)
    try:
        yield create_app(make_services(engine, api.services.keyring, api.services.recognizer))
    finally:
        engine.dispose()


def _database_down(api: ApiHarness, tmp_path: Path) -> AbstractContextManager[FastAPI]:
    """The API whose database cannot be reached (SQLite in no directory): 503 `database_unavailable`."""
    return _on_database(api, f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'facegate.db'}")


def _schema_missing(api: ApiHarness, tmp_path: Path) -> AbstractContextManager[FastAPI]:
    """The API whose database has no tables (a new SQLite file): 503 `schema_missing`."""
    return _on_database(api, f"sqlite:///{tmp_path / 'empty.db'}")


def _stale_reason(gate: ApiGallerySource) -> str:
    """Why the gate denies every face now (its health and audit reason); '' while it has a gallery."""
    try:
        gate.gallery()
    except GalleryStale as exc:
        return str(exc)
    return ""


def _first_problem(api: ApiHarness, url: str, home: Path) -> str:
    """The stale reason of a new edge gate of `url` once its first sync has failed with a server's 5xx."""
    gate = _edge_gate(api, url, home, door="lab")
    gate.start()
    try:
        wait_for(lambda: "(server " in _stale_reason(gate), timeout_s=60.0, what="a failed first sync")
        return _stale_reason(gate)
    finally:
        gate.close()


def test_an_edge_gate_names_the_state_a_servers_503_gives_in_its_log_and_stale_reason(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its first line: the database down as a warning (a wait can end it), a missing schema as an error."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    with caplog.at_level(logging.WARNING, logger="gate.edge"):
        with _database_down(api, tmp_path) as down, serving(down) as url:
            reasons = [_first_problem(api, url, tmp_path / "down")]
        drop_every_table(api.services.engine)
        with serving(api.client.app) as url:
            reasons.append(_first_problem(api, url, tmp_path / "empty"))
    assert reasons == [
        f"no gallery from the API yet ({_DOWN})",
        f"no gallery from the API yet ({_NO_SCHEMA})",
    ]
    lines = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("gallery sync: ")
    ]
    assert lines == [
        (logging.WARNING, f"gallery sync: {_DOWN}; deciding on version None until stale"),
        (logging.ERROR, f"gallery sync: {_NO_SCHEMA}; deciding on version None until stale"),
    ]


def _bad_gateway() -> FastAPI:
    """A reverse proxy whose API is away: 502 with its own HTML page for every request."""
    proxy = FastAPI()

    @proxy.post("/{path:path}")
    def answer(path: str) -> HTMLResponse:
        page = "<html><head><title>upstream\n facegate-api restarting</title></head><body>502</body></html>"
        return HTMLResponse(page, status_code=502)

    return proxy


def test_an_edge_gate_names_a_5xx_without_a_state_by_its_status_and_the_servers_words(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture, group_faces: list[bytes]
) -> None:
    """A 5xx whose JSON has no `status` (the API's 500 when its keyring does not open the templates) and
    a proxy's HTML 502 said only 'API unreachable: … the API answered 500'; now the status and the words."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    _enroll(api, "Ada", group_faces[0])  # a door without rules: its gallery holds Ada's template
    other_key = Keyring([secrets.token_bytes(32)])
    wrong_key = create_app(make_services(api.services.engine, other_key, api.services.recognizer))
    with caplog.at_level(logging.WARNING, logger="gate.edge"):
        with serving(wrong_key) as url:
            reasons = [_first_problem(api, url, tmp_path / "wrong-key")]
        with serving(_bad_gateway()) as url:
            reasons.append(_first_problem(api, url, tmp_path / "proxy"))
    problems = [
        "server answered 500 Internal Server Error: internal error: stored data cannot be read",
        "server answered 502 Bad Gateway: upstream facegate-api restarting",
    ]
    assert reasons == [f"no gallery from the API yet ({problem})" for problem in problems]
    lines = [
        (r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("gallery sync: ")
    ]
    assert lines == [
        (logging.WARNING, f"gallery sync: {problem}; deciding on version None until stale")
        for problem in problems
    ]


def _still(latest: str) -> str:
    """The count line of an API away, syncs 5 s apart: 6 failed a 30 s line, `latest` the last one's cause."""
    return f"gallery sync: the server still does not serve it: 6 attempts failed in the last 30 s ({latest})"


class FixedAfter:
    """An ASGI app: `broken` answers the first `failing` gallery syncs, `working` everything else; each
    sync takes `step_s` on the gate's clock (a broken server answering for minutes, in no time)."""

    def __init__(self, broken: FastAPI, working: FastAPI, *, failing: int, clock: FakeClock, step_s: float):
        self.broken, self.working, self.failing = broken, working, failing
        self.clock, self.step_s = clock, step_s
        self.syncs = 0

    async def __call__(self, scope, receive, send) -> None:
        app = self.working
        if scope["type"] == "http" and scope["path"] == "/devices/gallery":
            self.syncs += 1
            self.clock.advance(self.step_s)
            app = self.broken if self.syncs <= self.failing else self.working
        await app(scope, receive, send)


@pytest.mark.parametrize(
    ("broken", "problem", "first_level"),
    [
        (
            _wrong_key,
            "server answered 500 Internal Server Error: internal error: stored data cannot be read",
            logging.WARNING,
        ),
        (_database_down, _DOWN, logging.WARNING),
        (_schema_missing, _NO_SCHEMA, logging.ERROR),
    ],
    ids=["500", "database_unavailable", "schema_missing"],
)
def test_an_edge_gate_whose_server_keeps_failing_logs_an_error_naming_it_while_it_lasts(
    api: ApiHarness,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    group_faces: list[bytes],
    broken: Callable[[ApiHarness, Path], AbstractContextManager[FastAPI]],
    problem: str,
    first_level: int,
) -> None:
    """An API that answered 500 for hours (its keyring does not open the templates), or 503
    `database_unavailable` (its database down for a day), was one WARNING line, like a blip; now its first
    line stays a warning, each error_log_interval_s an error names it, and one line says when it answers
    again. A 503 `schema_missing` (its tables gone until an operator runs `facegate init`) was one ERROR line
    and no count or end; now it is logged alike, its first line still an error."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    _enroll(api, "Ada", group_faces[0])
    clock = FakeClock()
    with broken(api, tmp_path) as broken_app:
        server = FixedAfter(broken_app, api.client.app, failing=20, clock=clock, step_s=5.0)
        with caplog.at_level(logging.WARNING, logger="gate.edge"), serving(server) as url:
            # a request timed out under load would be one more failure, named first: the longest timeout
            gate = _edge_gate(
                api,
                url,
                tmp_path / "gate",
                door="lab",
                retry_max_s=0.01,
                monotonic=clock,
                request_timeout_s=120.0,
            )
            gate.start()
            try:
                # a second sync that works: the gate thread has handled the first (and logged its end)
                wait_for(lambda: server.syncs >= 22, timeout_s=120.0, what="two syncs after 20 that failed")
            finally:
                gate.close()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith("gallery sync")]
    assert lines == [  # syncs 5 s apart: counts at 35, 65 and 95 s, the 21st works
        (first_level, f"gallery sync: {problem}; deciding on version None until stale"),
        *[(logging.ERROR, _still(problem))] * 3,
        (logging.WARNING, "gallery sync: the server answers again after 100.0 s (20 attempts failed)"),
    ]


class SwitchingClient:
    """An edge gate's API client: its first posts go to `away` (each ApiClient for as many posts as given),
    the rest to `working`; each post takes `step_s` on the gate's clock (an API away for minutes, in no
    time). Client-side, as nothing answers on a refused port to count its attempts."""

    def __init__(
        self, away: list[tuple[ApiClient, int]], working: ApiClient, *, clock: FakeClock, step_s: float
    ):
        self.away, self.working, self.clock, self.step_s = away, working, clock, step_s
        self.posts = 0

    def post(self, path: str, body: dict[str, Any], *, timeout_s: float) -> dict[str, Any]:
        self.posts += 1
        self.clock.advance(self.step_s)
        client, ahead = self.working, self.posts
        for away, count in self.away:
            if ahead <= count:
                client = away
                break
            ahead -= count
        return client.post(path, body, timeout_s=timeout_s)


def _proxy_unavailable() -> FastAPI:
    """A reverse proxy whose API is away: 503 with its own HTML page, no JSON state, for every request."""
    proxy = FastAPI()

    @proxy.post("/{path:path}")
    def answer(path: str) -> HTMLResponse:
        page = (
            "<html><head><title>503 Service Temporarily Unavailable</title></head><body>nginx</body></html>"
        )
        return HTMLResponse(page, status_code=503)

    return proxy


def test_an_edge_gate_whose_api_stays_unreachable_logs_an_error_while_it_lasts_and_its_end(
    api: ApiHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An API refused (nothing listens on its port), then a proxy's 503 without a state, for 100 s was one
    WARNING line for each, like two blips, and none when it answered again; now it is logged as the 500
    is: its first line, an error per error_log_interval_s naming the latest cause, and its end."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=["lab"], create_doors=True)
    refused = f"http://127.0.0.1:{free_port()}"
    token = api.tokens[Role.device]
    clock = FakeClock()
    with caplog.at_level(logging.WARNING, logger="gate.edge"):
        with serving(_proxy_unavailable()) as proxy, serving(api.client.app) as url:
            gate = _edge_gate(api, refused, tmp_path / "gate", door="lab", retry_max_s=0.01, monotonic=clock)
            away = [(ApiClient(refused, api_key=token), 10), (ApiClient(proxy, api_key=token), 10)]
            client = SwitchingClient(away, ApiClient(url, api_key=token), clock=clock, step_s=5.0)
            gate.client = client
            gate.start()
            try:
                # 20 failed registrations, then it registers and syncs, then syncs again: the gate thread has
                # handled the first sync that worked (and logged the end) before it posts the 23rd time
                wait_for(lambda: client.posts >= 23, timeout_s=120.0, what="two syncs after 20 that failed")
                lines = [
                    (r.levelno, r.getMessage())
                    for r in caplog.records
                    if r.getMessage().startswith("gallery sync")
                ]
            finally:
                gate.close()
    unreachable = "API unreachable: /devices/register: <urlopen error [Errno 111] Connection refused>"
    proxied = "server answered 503 Service Unavailable: 503 Service Temporarily Unavailable"
    assert lines == [  # posts 5 s apart: counts at 35, 65 and 95 s; the 21st registers, the 22nd syncs
        (logging.WARNING, f"gallery sync: {unreachable}; deciding on version None until stale"),
        (logging.ERROR, _still(unreachable)),
        *[(logging.ERROR, _still(proxied))] * 2,
        (logging.WARNING, "gallery sync: the server answers again after 105.0 s (20 attempts failed)"),
    ]
