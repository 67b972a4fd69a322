"""The server's own purge of expired idempotency answers. They were purged only by the next request with a
key: on a server no keyed request reached any more (a one-off bulk import by a script), the stored answers,
which can hold a person's name, stayed in the database past FACEGATE_API_IDEMPOTENCY_RETENTION_S for good."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner

from api.cli import app as cli
from api.idempotency_purge import IdempotencyPurger
from storage import (
    Engine,
    IdempotentRequest,
    Role,
    StoredResponse,
    create_api_key,
    make_engine,
    record_idempotent_response,
    session_scope,
)
from tests.api.test_idempotency import WallClock, _stored_keys
from tests.gate.pg_proxy import TcpProxy

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
DAY_S = 24 * 3600


def _record(engine: Engine, keys: list[str], *, at: datetime) -> None:
    """Answers to `POST /people` sent with `keys` at `at`, as the route stores them (a name in each)."""
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.admin, label=f"import {at:%H%M}", now=at)
        for key in keys:
            request = IdempotentRequest(
                key_id=token.split("_")[1], idempotency_key=key, route="POST /people", request_sha256="a" * 64
            )
            answer = StoredResponse(status_code=201, response_json=f'{{"id": 1, "name": "Ada {key}"}}')
            record_idempotent_response(session, request, answer, now=at)


def test_answers_expire_within_an_hour_when_no_keyed_request_comes(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script imported people with keys, then nothing came: a pass at start, then one an hour, each
    deleting a batch per transaction until none is left."""
    monkeypatch.setattr("storage.idempotency.PURGE_BATCH_ROWS", 2)  # 5 answers: 3 batches
    _record(engine, [f"import-{n}" for n in range(5)], at=T0)
    _record(engine, ["late"], at=T0 + timedelta(minutes=30))
    clock = WallClock(T0 + timedelta(seconds=DAY_S, minutes=1))  # the server starts: the import expired
    left_at_waits: list[tuple[float, int]] = []

    def wait(interval_s: float) -> bool:
        left_at_waits.append((interval_s, _stored_keys(engine)))
        clock.now += timedelta(seconds=interval_s)
        return len(left_at_waits) == 2

    IdempotencyPurger(engine, retention_s=DAY_S, clock=clock, wait=wait).run()
    assert left_at_waits == [(3600.0, 1), (3600.0, 0)]  # "late" expired 31 min before the second pass


@dataclass(frozen=True)
class Outage:
    """An engine whose database cannot be reached until `end` is called."""

    engine: Engine
    end: Callable[[], None]


@pytest.fixture
def outage(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outage]:
    """SQLite: a file in a directory that does not exist yet. PostgreSQL: the test database behind a cut
    proxy (`engine` migrated it)."""
    if database_url.startswith("sqlite"):
        migrated: Path = request.getfixturevalue("migrated_sqlite_file")
        database = tmp_path / "not-yet" / "facegate.db"

        def create() -> None:
            database.parent.mkdir()
            shutil.copyfile(migrated, database)

        engine = make_engine(f"sqlite:///{database}")
        yield Outage(engine, create)
        engine.dispose()
        return
    request.getfixturevalue("engine")
    proxy: TcpProxy = request.getfixturevalue("proxy")
    engine = make_engine(proxy.url_for(database_url))
    proxy.cut()
    yield Outage(engine, proxy.restore)
    engine.dispose()


def test_a_database_outage_is_logged_once_and_the_first_pass_after_it_purges(
    outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    """Three passes fail and the loop goes on (so does the server): one warning line, no traceback (an
    outage is no bug); the pass after the database came back says so and deletes what expired."""
    waits: list[float] = []

    def wait(interval_s: float) -> bool:
        waits.append(interval_s)
        if len(waits) == 3:
            outage.end()
            _record(outage.engine, ["import-1"], at=T0 - timedelta(hours=2))
        return len(waits) == 4

    with caplog.at_level(logging.DEBUG, logger="api.idempotency_purge"):
        IdempotencyPurger(outage.engine, retention_s=3600, clock=lambda: T0, wait=wait).run()
    lines = [
        (r.levelno, r.exc_info, r.getMessage()) for r in caplog.records if r.name == "api.idempotency_purge"
    ]
    levels = [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.INFO, logging.INFO]
    assert [(level, exc_info) for level, exc_info, _ in lines] == [(level, None) for level in levels], lines
    assert lines[0][2].startswith("purging expired idempotency answers failed: DatabaseUnavailable: "), lines
    assert lines[0][2].endswith("; tried again every 3600 s"), lines
    assert [message for _, _, message in lines[3:]] == [
        "purging expired idempotency answers works again, after 3 failed passes",
        "purged 1 expired idempotency answers",
    ]
    assert _stored_keys(outage.engine) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_facegate_serve_purges_while_it_serves(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`facegate serve` runs the purge from its start (its first pass is done before the server stops)."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    engine = make_engine(database_url)
    _record(engine, ["import-1"], at=datetime.now(UTC) - timedelta(days=2))  # the default retention: 24 h
    _record(engine, ["today"], at=datetime.now(UTC))
    served: list[FastAPI] = []
    monkeypatch.setattr(uvicorn, "run", lambda asgi, **_options: served.append(asgi))
    result = runner.invoke(cli, ["serve"])
    stored = _stored_keys(engine)
    engine.dispose()
    assert result.exit_code == 0 and served, result.output
    assert stored == 1
