"""A database host that accepts TCP and never answers is unavailable after the connect timeout, not 130 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from storage import DatabaseUnavailable, make_engine, open_database, session_scope
from storage.settings import StorageSettings
from tests.concurrency import raised_within
from tests.conftest import POSTGRES_STATUS, POSTGRES_URL
from tests.gate.pg_proxy import TcpProxy, proxy_to_test_postgres

HANG_S = 60.0
"""A hang detector's limit, not a speed claim: psycopg's own connect timeout is 130 s."""


@pytest.mark.parametrize(
    ("url", "psycopg_gets"),
    [("postgresql://u@db.example/fg", "7"), ("postgresql://u@db.example/fg?connect_timeout=3", "3")],
)
def test_postgresql_connections_get_the_connect_timeout_unless_the_url_sets_its_own(
    url: str, psycopg_gets: str
) -> None:
    engine = make_engine(url, connect_timeout_s=7)

    _, psycopg_params = engine.dialect.create_connect_args(engine.url)  # what each pooled connect passes
    assert psycopg_params["connect_timeout"] == psycopg_gets
    assert make_engine("sqlite://", connect_timeout_s=7).url.query == {}


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_STATUS)
    yield from proxy_to_test_postgres()


def _select_one(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.connection().execute(text("SELECT 1"))


@pytest.mark.integration
def test_a_session_against_a_database_that_never_answers_is_unavailable_after_the_connect_timeout(
    proxy: TcpProxy,
) -> None:
    """The pooled connection is reset and the host then accepts TCP and never answers (a hung server, a
    black-holed path): the pre-ping reconnects, and psycopg alone waited 130 s on that, so a request got its
    503 and a gate's write its error only then."""
    assert POSTGRES_URL is not None
    engine = make_engine(proxy.url_for(POSTGRES_URL, connect_timeout_s=None), connect_timeout_s=2)
    try:
        _select_one(engine)
        proxy.hold_new_connections()
        raised = raised_within(lambda: _select_one(engine), hang_s=HANG_S)
    finally:
        engine.dispose()
    assert isinstance(raised, DatabaseUnavailable), repr(raised)
    assert "connection timeout expired" in str(raised)


@pytest.mark.integration
def test_a_command_against_a_database_that_never_answers_is_told_after_the_setting(
    proxy: TcpProxy, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What every `facegate` command, the API server and the gate open: FACEGATE_DATABASE_CONNECT_TIMEOUT_S
    reaches the engine, so the command says the database is unreachable after it, not after 130 s."""
    assert POSTGRES_URL is not None
    monkeypatch.setenv("FACEGATE_DATABASE_URL", proxy.url_for(POSTGRES_URL, connect_timeout_s=None))
    monkeypatch.setenv("FACEGATE_DATABASE_CONNECT_TIMEOUT_S", "2")
    settings = StorageSettings()
    proxy.hold_new_connections()

    raised = raised_within(lambda: open_database(settings), hang_s=HANG_S)

    assert isinstance(raised, DatabaseUnavailable), repr(raised)
    assert "cannot reach the database" in str(raised)
