"""An edge gate meets a database lock another session holds (SQLite's write lock of an open BEGIN IMMEDIATE,
PostgreSQL's LOCK TABLE of an operator's psql): the API waits for it up to its own timeouts
(FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S, FACEGATE_DATABASE_STATEMENT_TIMEOUT_S, 30 s by default), then
answers 503 `database_unavailable` with Retry-After. The gate's request timeout was 10 s by default: it gave
up first, logged 'API unreachable: /devices/register: timed out' and retried after its 0.5 s backoff, each
abandoned request still waiting on the server; one that heard the 503 retried after 0.5 s too, ignoring its
Retry-After. The API is the real app under uvicorn on the real database, its waits shortened to 1 s; the
gate is a real ApiGallerySource."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from api.app import create_app
from gate import ApiGallerySourceConfig
from gate.api_client import ApiClient
from storage import Engine, Role, StorageSettings, bind_device_doors, make_engine, session_scope
from tests.api.conftest import ApiHarness, make_services
from tests.api.console_browser import serving
from tests.api.test_device_sync_errors import _DOWN
from tests.api.test_devices import _device_id, _edge_gate
from tests.api.test_statement_timeout import TIMED_OUT
from tests.concurrency import held_by_another_session
from tests.gate.edge_support import wait_for
from tests.gate.journal_support import delivering_one_event

API_WAITS_S = 1
"""The API's database waits in these tests (SQLite's busy timeout, PostgreSQL's statement timeout)."""


@contextmanager
def _lock_held(engine: Engine, database_url: str) -> Iterator[None]:
    """Every device request's first statement waits while open: on SQLite the key check's write of
    last_used_at (the write lock), on PostgreSQL its read of the key (the table locked)."""
    if engine.dialect.name == "postgresql":
        with held_by_another_session(database_url, "LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE"):
            yield
        return
    assert engine.url.database is not None
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


@contextmanager
def _locked_api(api: ApiHarness, engine: Engine, database_url: str, *, door: str) -> Iterator[str]:
    """The API under uvicorn on the test database with its waits at API_WAITS_S, a lock held on that database
    while open, and the device key serving `door`; yields the API's URL."""
    with session_scope(api.services.engine) as session:
        bind_device_doors(session, key_id=_device_id(api), doors=[door], create_doors=True)
    bounded = make_engine(database_url, sqlite_busy_timeout_s=API_WAITS_S, statement_timeout_s=API_WAITS_S)
    app = create_app(make_services(bounded, api.services.keyring, api.services.recognizer))
    try:
        with serving(app) as url, _lock_held(engine, database_url):
            yield url
    finally:
        bounded.dispose()


def _sync_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("gallery sync")]


def _delivery_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gate.delivery"]


def _first_lines(
    api: ApiHarness, url: str, home: Path, caplog: pytest.LogCaptureFixture, *, request_timeout_s: float
) -> list[str]:
    """The gallery sync lines of a new edge gate up to its first wait after a failed sync."""
    caplog.clear()
    gate = _edge_gate(api, url, home, door="lab", retry_max_s=10.0, request_timeout_s=request_timeout_s)
    gate.start()
    try:
        wait_for(
            lambda: any(line.startswith("gallery sync: next attempt") for line in _sync_lines(caplog)),
            timeout_s=60.0,
            what="the gate's wait after its first sync failed",
        )
    finally:
        gate.close()
    return _sync_lines(caplog)[:2]


def test_under_a_held_lock_an_edge_gate_hears_the_apis_503_and_waits_its_retry_after(
    api: ApiHarness, engine: Engine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A gate whose request timeout is above the API's waits gets the 503 and waits its Retry-After (5 s,
    not the 0.5 s backoff); one whose timeout is below them says it got no answer in time, and from which
    setting, rather than 'timed out' as if the API were away."""
    with caplog.at_level(logging.DEBUG, logger="gate.edge"):
        with _locked_api(api, engine, database_url, door="lab") as url:
            short = _first_lines(api, url, tmp_path / "short", caplog, request_timeout_s=0.2)
            longer = _first_lines(api, url, tmp_path / "long", caplog, request_timeout_s=30.0)
    down = _DOWN if engine.dialect.name == "sqlite" else f"server database unavailable: {TIMED_OUT['detail']}"
    assert short == [
        "gallery sync: API did not answer in time: /devices/register: no answer within 0.2 s "
        "(gallery_source.request_timeout_s); deciding on version None until stale",
        "gallery sync: next attempt in 0.5 s",
    ]
    assert longer == [
        f"gallery sync: {down}; deciding on version None until stale",
        "gallery sync: next attempt in 5.0 s (the API's Retry-After: 5 s)",
    ]


def test_under_a_held_lock_an_edge_gates_journal_waits_the_apis_retry_after(
    api: ApiHarness, engine: Engine, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its events to `POST /devices/events` were retried after the journal's doubling wait from 0.5 s,
    whatever Retry-After the API's 503 gave; now the next delivery waits it (5 s), up to the longest wait."""
    with caplog.at_level(logging.DEBUG, logger="gate.delivery"):
        with _locked_api(api, engine, database_url, door="front") as url:
            client = ApiClient(url, api_key=api.tokens[Role.device])
            with delivering_one_event(client, tmp_path):
                wait_for(
                    lambda: len(_delivery_lines(caplog)) >= 2,
                    timeout_s=60.0,
                    what="the journal's wait after a 503",
                )
                lines = _delivery_lines(caplog)
    assert lines[0].startswith("audit log unreachable (/devices/events: the API answered 503 Service "), lines
    assert lines[1:] == ["audit journal delivery: next attempt in 5.0 s (the API's Retry-After: 5 s)"]


def test_an_edge_gates_default_request_timeout_outlasts_the_apis_default_database_waits() -> None:
    """It was 10 s against the API's 30 s: under a held lock the gate gave up before the API answered."""
    config = ApiGallerySourceConfig.model_validate({"url": "https://facegate.example", "api_key": "fg_x"})
    storage = StorageSettings()
    waits_s = max(storage.database_sqlite_busy_timeout_s, storage.database_statement_timeout_s)
    assert config.request_timeout_s > waits_s
