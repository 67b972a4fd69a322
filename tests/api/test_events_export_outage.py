"""The CSV export while its database goes away mid-stream (really: the test PostgreSQL cut by a TCP proxy as
the export asks for its second batch, the app under uvicorn, read over HTTP). The client has had the 200,
the header and whole rows by then, so its download must fail rather than end: the body is left
unterminated. That much happened before by accident (Starlette turned the DatabaseUnavailable into
"RuntimeError: Caught handled exception, but response already started", which uvicorn logged with a full
traceback as "Exception in ASGI application" at every cut export); now it is the export's own doing, and
the outage is one warning line without a traceback, rate-limited with the other routes' 503s. The same
server then exports everything.

A database that is down when the export starts (cut as the first batch is asked for, after the key check)
is the clean 503 database_unavailable with Retry-After every other route gives, for the API's export and
the console's: the first batch is read before the response starts."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import pytest
from sqlalchemy import Connection, event

from api import AppServices
from api.app import create_app
from api.settings import ApiSettings
from storage import Engine, Role
from tests.api.conftest import make_tokens, wait_for_gallery
from tests.api.console_browser import serving
from tests.api.test_console import sign_in
from tests.gate.pg_proxy import TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)]

BATCH_ROWS = 5000
"""storage.iter_event_rows' batch: the export below spans three of them."""
EVENTS = 2 * BATCH_ROWS + 1

FILL_SQL = """
INSERT INTO audit_event (sequence, occurred_at, door, source, track_id, decision, reason, person_id,
                         score, threshold, model_id, chain_key_id, prev_hash, link_hash)
SELECT g, TIMESTAMPTZ '2030-05-01 08:00:00+00' + g * INTERVAL '1 second', 'front', 'cam-1', g,
       'granted'::decision, 'match', g %% 50 + 1, 0.8, 0.363, 'sface-int8', 'test',
       md5(g::text) || md5((g + 1)::text), md5((g + 2)::text) || md5((g + 3)::text)
FROM generate_series(1, %(events)s) AS g
"""
"""Rows straight into the table (not a valid hash chain: nothing here verifies it), in well under a second."""


def _fill(engine: Engine, events: int) -> None:
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute(FILL_SQL, {"events": events})


def _is_batch_query(statement: str) -> bool:
    return "FROM audit_event" in statement and "ORDER BY audit_event.sequence DESC" in statement


@contextmanager
def cutting_at_batch(engine: Engine, proxy: TcpProxy, *, batch: int | None) -> Iterator[None]:
    """While inside, `proxy` is cut as `engine` asks for export batch number `batch` (counted from 1
    across every export meanwhile; None: as it asks for any batch)."""
    batches = 0

    def cut(_connection: Connection, _cursor: object, statement: str, *_: object) -> None:
        nonlocal batches
        if _is_batch_query(statement):
            batches += 1
            if batch is None or batches == batch:
                proxy.cut()

    event.listen(engine, "before_cursor_execute", cut)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", cut)


def _download(url: str, auth: dict[str, str]) -> tuple[int, bytes, Exception | None]:
    """Status, the body received, and the error that ended the transfer early (None: it ended cleanly)."""
    received = bytearray()
    with httpx.stream("GET", f"{url}/events/export.csv", headers=auth, timeout=30.0) as response:
        try:
            for chunk in response.iter_bytes():
                received += chunk
        except httpx.HTTPError as exc:
            return response.status_code, bytes(received), exc
    return response.status_code, bytes(received), None


@contextmanager
def capturing_the_server(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """caplog also fed by uvicorn's loggers, which do not propagate to it (uvicorn configured them as it
    started: call this after)."""
    server = logging.getLogger("uvicorn")
    server.addHandler(caplog.handler)
    try:
        yield
    finally:
        server.removeHandler(caplog.handler)


def test_an_export_cut_off_mid_stream_ends_as_an_incomplete_download_and_the_server_goes_on(
    engine: Engine, proxy: TcpProxy, proxied_services: AppServices, caplog: pytest.LogCaptureFixture
) -> None:
    """The cut comes as the second of three batches is asked for: the client has the 200, the header and
    the first batch's rows, a clean CSV up to there. Its download must fail, not end; the log gets one
    warning line naming the cause and no traceback; once the database listens again the same server
    exports every event."""
    _fill(engine, EVENTS)  # `engine` reaches the database behind the proxy directly
    auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.auditor]}"}
    with serving(create_app(proxied_services)) as url, capturing_the_server(caplog):
        wait_for_gallery(proxied_services)
        with cutting_at_batch(proxied_services.engine, proxy, batch=2), caplog.at_level(logging.WARNING):
            status, body, error = _download(url, auth)
        proxy.restore()
        after = _download(url, auth)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert status == 200 and rows[0][:2] == ["sequence", "occurred_at"] and len(rows) == 1 + BATCH_ROWS
    assert isinstance(error, httpx.RemoteProtocolError), error  # "incomplete chunked read"
    outage = [r for r in caplog.records if "DatabaseUnavailable" in r.getMessage()]
    assert [(r.name, r.levelno) for r in outage] == [("api.errors", logging.WARNING)], caplog.text
    said = (
        f"GET /events/export.csv was cut off after {len(body)} bytes of its 200 answer "
        "(left unterminated: the client sees an incomplete download): DatabaseUnavailable: "
    )
    assert outage[0].getMessage().startswith(said)
    assert not [r for r in caplog.records if r.exc_info], "no traceback: an outage is not a bug"
    status, body, error = after
    assert status == 200 and error is None
    assert len(list(csv.reader(io.StringIO(body.decode())))) == 1 + EVENTS


def test_an_export_whose_database_is_down_at_its_start_answers_503_with_retry_after(
    engine: Engine, proxy: TcpProxy, proxied_services: AppServices, caplog: pytest.LogCaptureFixture
) -> None:
    """The cut comes after the key check, as the first batch is asked for: no byte of a 200 has left, so
    the API's export and the console's answer 503 with Retry-After (not a 200 with a header and then an
    aborted transfer), logged as the other routes' 503s are; restored, both export every event."""
    _fill(engine, BATCH_ROWS + 1)
    tokens = make_tokens(engine)
    answers: dict[str, httpx.Response] = {}
    with serving(create_app(proxied_services, settings=ApiSettings())) as url, capturing_the_server(caplog):
        wait_for_gallery(proxied_services)
        console = httpx.Client(base_url=url, timeout=30.0)
        sign_in(console, tokens[Role.auditor])
        api_auth = {"Authorization": f"Bearer {tokens[Role.auditor]}"}
        with cutting_at_batch(proxied_services.engine, proxy, batch=None), caplog.at_level(logging.WARNING):
            answers["api"] = httpx.get(f"{url}/events/export.csv", headers=api_auth, timeout=30.0)
            proxy.restore()
            answers["console"] = console.get("/ui/events/export.csv")
        proxy.restore()
        status, body, error = _download(url, api_auth)
        console_after = console.get("/ui/events/export.csv")
        console.close()
    for where, answer in answers.items():
        assert answer.status_code == 503, (where, answer.status_code, answer.text[:200])
        assert answer.headers["Retry-After"] == "5", where
        assert "the database cannot be reached" in answer.text, where
    assert answers["api"].json()["status"] == "database_unavailable"
    outage = [r for r in caplog.records if "DatabaseUnavailable" in r.getMessage()]
    assert [(r.name, r.levelno) for r in outage] == [("api.errors", logging.WARNING)], caplog.text
    assert outage[0].getMessage().startswith("GET /events/export.csv answered 503, retry after 5 s: ")
    assert not [r for r in caplog.records if r.exc_info], "no traceback: an outage is not a bug"
    assert status == 200 and error is None
    assert len(list(csv.reader(io.StringIO(body.decode())))) == 2 + BATCH_ROWS
    assert len(list(csv.reader(io.StringIO(console_after.text)))) == 2 + BATCH_ROWS
