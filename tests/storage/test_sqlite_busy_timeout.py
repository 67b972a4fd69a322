"""A SQLite write waits FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S (default 30 s) for the database's write
lock, then fails as DatabaseUnavailable naming the setting; PostgreSQL ignores it.

pysqlite's own busy timeout, the only one before, was 5 s: SQLite retries a waiting writer at growing
intervals instead of queueing it, so a burst of writers each holding the lock for milliseconds kept one
out past it and that write failed.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from storage import DatabaseUnavailable, Engine, create_person, list_people, open_database, session_scope
from storage.settings import StorageSettings

RELEASE_S = 8.0  # the holder lets go of the lock then: past pysqlite's 5 s, far from the timeouts below
HANG_S = 120.0  # a hang detector for the writer, not a speed claim


def _write_while_locked(engine: Engine, database: Path) -> list[BaseException]:
    """What creating a person raised while another connection held the SQLite write lock, which it let go
    once the write had returned or after RELEASE_S, whichever came first."""
    raised: list[BaseException] = []
    returned = threading.Event()

    def write() -> None:
        try:
            with session_scope(engine) as session:
                create_person(session, name="Ada")
        except BaseException as exc:  # reported by the test's thread
            raised.append(exc)
        finally:
            returned.set()

    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as another writer's transaction holds it
        writer = threading.Thread(target=write, name="test-writer", daemon=True)
        writer.start()
        returned.wait(RELEASE_S)
        holder.execute("ROLLBACK")
        writer.join(HANG_S)
        assert not writer.is_alive(), f"the write has not returned {HANG_S:.0f} s after the lock was freed"
    finally:
        holder.close()
    return raised


def _people(engine: Engine) -> int:
    with session_scope(engine) as session:
        return list_people(session)[1]


@contextmanager
def _opened(monkeypatch: pytest.MonkeyPatch, busy_timeout_s: str | None) -> Iterator[Engine]:
    """The database of the environment's settings, as every command, the API server and the gate open it,
    with FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S at `busy_timeout_s` (None: unset, its default)."""
    if busy_timeout_s is not None:
        monkeypatch.setenv("FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S", busy_timeout_s)
    engine = open_database(StorageSettings())
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("busy_timeout_s", [None, "60"], ids=["default", "60"])
def test_a_write_waits_for_a_lock_held_past_pysqlites_5_s(
    busy_timeout_s: str | None, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is held RELEASE_S (8 s): the write waits it out under the default (30 s) and a set value."""
    with _opened(monkeypatch, busy_timeout_s) as engine:
        assert _write_while_locked(engine, clean_environment / "facegate.db") == []
        assert _people(engine) == 1


def test_a_write_kept_out_past_the_setting_fails_naming_it(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1 s the write gives up long before the holder lets go (RELEASE_S), and says what to change."""
    with _opened(monkeypatch, "1") as engine:
        raised = _write_while_locked(engine, clean_environment / "facegate.db")
        assert len(raised) == 1 and isinstance(raised[0], DatabaseUnavailable), raised
        said = "its whole busy timeout (FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S; database is locked)"
        assert re.search(re.escape(said), str(raised[0])), raised[0]
        assert _people(engine) == 0


def test_both_databases_open_and_write_with_the_setting(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each SQLite connection has it as its busy timeout (milliseconds); PostgreSQL ignores it: psycopg is
    never given a `timeout`, which it would refuse as a connection option."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    with _opened(monkeypatch, "0.5") as engine:
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 500
        with session_scope(engine) as session:
            create_person(session, name="Ada")
        assert _people(engine) == 1
