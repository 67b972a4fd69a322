"""Engine and sessions: an unreachable database is one clear error; a failed transaction writes nothing."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import QueuePool, text

from storage import (
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    create_person,
    create_schema,
    list_people,
    make_engine,
    open_database,
    session_scope,
)
from storage.db import connection_scope
from storage.settings import StorageSettings


def test_unreachable_postgresql_is_reported_as_unavailable() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")

    with pytest.raises(DatabaseUnavailable, match="cannot reach the database"):
        create_schema(engine)
    with pytest.raises(DatabaseUnavailable), session_scope(engine) as session:
        list_people(session)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("garbage", "not a URL (no scheme://)"),
        ("nope://host/db", "scheme 'nope' is not supported"),
        ("mysql://root:s3cret@127.0.0.1/test", "scheme 'mysql' is not supported"),
        ("postgresql+asyncpg://u:s3cret@h/db", "scheme 'postgresql+asyncpg' is not supported"),
        ("postgresql://u:s3cret@h:fivefour/db", "postgresql+psycopg database URL cannot be read"),
    ],
)
def test_an_unusable_database_url_is_one_error_that_never_quotes_it(url: str, says: str) -> None:
    """These ended in SQLAlchemy's or a driver's traceback (NoSuchModuleError, ArgumentError, ValueError,
    ModuleNotFoundError 'MySQLdb') at every command; a URL may hold a password, so it is never quoted."""
    with pytest.raises(InvalidDatabaseUrl, match=re.escape(says)) as refused:
        make_engine(url)

    assert "s3cret" not in str(refused.value) and "use sqlite:///PATH or postgresql://" in str(refused.value)


def test_unwritable_sqlite_path_is_reported_as_unavailable(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'facegate.db'}")

    with pytest.raises(DatabaseUnavailable):
        create_schema(engine)


def test_a_transaction_that_raises_leaves_nothing_behind(engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        create_person(session, name="half written")
        raise RuntimeError("caller failed after the insert")

    with session_scope(engine) as session:
        assert list_people(session) == ([], 0)


def test_default_database_is_a_sqlite_file_in_the_data_directory(clean_environment) -> None:
    settings = StorageSettings()

    assert settings.resolved_database_url == f"sqlite:///{clean_environment / 'facegate.db'}"


def test_the_postgres_probe_says_no_for_a_closed_port_and_yes_for_the_test_database() -> None:
    from tests.conftest import POSTGRES_URL, _postgres_answers

    assert not _postgres_answers("postgresql://postgres@127.0.0.1:1/test")
    if POSTGRES_URL is not None:
        assert _postgres_answers(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"))


def test_the_pool_settings_size_each_process_pool(
    database_url: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 pooled connections and 1 more under load: a fourth operation waits 0.25 s, then fails."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEGATE_DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("FACEGATE_DATABASE_MAX_OVERFLOW", "1")
    monkeypatch.setenv("FACEGATE_DATABASE_POOL_TIMEOUT_S", "0.25")

    engine = open_database(StorageSettings())
    try:
        assert isinstance(engine.pool, QueuePool)
        assert (engine.pool.size(), engine.pool.timeout()) == (2, 0.25)
        with ExitStack() as held:
            for _ in range(2):
                held.enter_context(engine.connect())
            with session_scope(engine) as session:
                assert list_people(session) == ([], 0)
            held.enter_context(engine.connect())
            with pytest.raises(DatabaseUnavailable), session_scope(engine) as session:
                list_people(session)
    finally:
        engine.dispose()


def test_an_operation_that_finds_every_connection_in_use_fails_as_unavailable(database_url: str) -> None:
    """A stalled request (or a leak) holds the only connection: the next one is a clear 503 after the pool
    timeout, not SQLAlchemy's TimeoutError as a 500, and the database works again once it is freed."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    create_schema(engine)
    try:
        with engine.connect():
            with (
                pytest.raises(DatabaseUnavailable, match="stayed in use until the pool timeout"),
                session_scope(engine) as session,
            ):
                list_people(session)
            with (
                pytest.raises(DatabaseUnavailable, match="FACEGATE_DATABASE_POOL_SIZE"),
                connection_scope(engine) as connection,
            ):
                connection.execute(text("SELECT 1"))
        with session_scope(engine) as session:
            assert list_people(session) == ([], 0)
    finally:
        engine.dispose()
