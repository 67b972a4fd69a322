"""On the real PostgreSQL, a statement that waits for a lock another session holds (an operator's open psql
transaction, a stuck migration) fails as StatementTimeout after FACEGATE_DATABASE_STATEMENT_TIMEOUT_S; it
waited for as long as the lock was held. The long jobs are not cut: a schema upgrade waiting for another
process's upgrade, a gallery load's transaction."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from storage import (
    DatabaseUnavailable,
    Engine,
    Keyring,
    StatementTimeout,
    append_event,
    load_templates,
    make_engine,
    open_database,
    session_scope,
)
from storage.migrate import MIGRATION_LOCK_KEY
from storage.settings import StorageSettings
from tests.concurrency import Worker, held_by_another_session, raised_within
from tests.storage.audit_helpers import event

HANG_S = 60.0
"""A hang detector's limit, not a speed claim: without the bound the wait lasts as long as the lock."""
BOUND_S = 1
CANCELLED = "the database cancelled a statement (canceling statement due to statement timeout)"


@pytest.fixture
def postgres_url(engine: Engine, database_url: str) -> str:
    """The test PostgreSQL schema, migrated by `engine`; SQLite has no statement timeout."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout; SQLite has none")
    return database_url


def _bounded_settings(url: str, monkeypatch: pytest.MonkeyPatch) -> StorageSettings:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", url)
    monkeypatch.setenv("FACEGATE_DATABASE_STATEMENT_TIMEOUT_S", str(BOUND_S))
    return StorageSettings()


def _append_one(engine: Engine, keyring: Keyring, index: int) -> None:
    with session_scope(engine) as session:
        append_event(session, keyring, event(index))


@pytest.mark.integration
def test_a_gate_write_that_meets_a_held_lock_fails_as_statement_timeout(
    postgres_url: str, keyring: Keyring, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's psql holds the audit chain's head row (SELECT ... FOR UPDATE in an open transaction):
    a gate's event write, on what every command, the API and the gate open, waited as long as it was held."""
    bounded = open_database(_bounded_settings(postgres_url, monkeypatch))
    try:
        _append_one(bounded, keyring, 0)
        with held_by_another_session(postgres_url, "SELECT * FROM audit_chain_head FOR UPDATE"):
            raised = raised_within(lambda: _append_one(bounded, keyring, 1), hang_s=HANG_S)
        _append_one(bounded, keyring, 1)  # the lock gone, the same engine writes again
    finally:
        bounded.dispose()
    assert isinstance(raised, StatementTimeout), repr(raised)
    assert isinstance(raised, DatabaseUnavailable)  # what the API, CLI and gate already answer and retry
    assert str(raised).startswith(CANCELLED)
    assert "FACEGATE_DATABASE_STATEMENT_TIMEOUT_S" in str(raised)


def _waited_s(observer: psycopg.Connection, holder_pid: int) -> float:
    """How long (server clock) a session other than the holder has waited for the migration lock; 0 when
    none waits."""
    row = observer.execute(
        "SELECT extract(epoch FROM clock_timestamp() - query_start) FROM pg_stat_activity "
        "WHERE wait_event = 'advisory' AND pid <> %s AND query LIKE %s",
        (holder_pid, "%pg_advisory_xact_lock%"),
    ).fetchone()
    return 0.0 if row is None else float(row[0])


@pytest.mark.integration
def test_a_schema_upgrade_that_waits_for_another_past_the_bound_is_not_cut(
    postgres_url: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gates and the API start together and one migrates a big table: the others wait for it however long,
    then see head. The waiting upgrade is watched in pg_stat_activity until it has waited three times the
    bound (server clock), then the other one ends."""
    settings = _bounded_settings(postgres_url, monkeypatch)
    opened: list[Engine] = []
    upgrade = Worker(lambda: opened.append(open_database(settings)))
    another_upgrade = f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with (
        held_by_another_session(postgres_url, another_upgrade) as holder_pid,
        psycopg.connect(plain, autocommit=True) as observer,
    ):
        upgrade.thread.start()
        deadline = time.monotonic() + HANG_S
        while upgrade.thread.is_alive() and _waited_s(observer, holder_pid) < 3 * BOUND_S:
            assert time.monotonic() < deadline, f"no upgrade waited {3 * BOUND_S} s for the other one"
            time.sleep(0.05)
    upgrade.thread.join(timeout=HANG_S)
    for engine in opened:
        engine.dispose()
    assert not upgrade.thread.is_alive(), "the upgrade did not end once the other one had"
    assert upgrade.errors == []
    assert len(opened) == 1


@pytest.mark.integration
def test_a_gallery_load_s_transaction_is_not_cut_for_running_long(
    postgres_url: str, keyring: Keyring
) -> None:
    """A gallery of a million templates is read in one ordered statement (its first fetch sorts them): the
    rest of its transaction has no statement bound (a statement of twice the bound stands in for it)."""
    bounded = make_engine(postgres_url, statement_timeout_s=BOUND_S)
    try:
        with session_scope(bounded) as session:
            assert list(load_templates(session, keyring, model_id="m")) == []
            session.connection().execute(text(f"SELECT pg_sleep({2 * BOUND_S})"))
            lock_timeout = session.connection().execute(text("SHOW lock_timeout")).scalar_one()
    finally:
        bounded.dispose()
    assert lock_timeout == f"{BOUND_S}s"  # a lock wait is still bounded


def _timeouts(engine: Engine) -> tuple[str, str]:
    with engine.connect() as connection:
        statement = connection.execute(text("SHOW statement_timeout")).scalar_one()
        lock = connection.execute(text("SHOW lock_timeout")).scalar_one()
    engine.dispose()
    return statement, lock


@pytest.mark.integration
def test_the_database_url_s_own_timeout_wins(postgres_url: str) -> None:
    """The test schema's URL has libpq options (its search path) already: one more in them is kept."""
    own = f"{postgres_url}%20-cstatement_timeout%3D5000"
    assert _timeouts(make_engine(postgres_url, statement_timeout_s=BOUND_S)) == (f"{BOUND_S}s", f"{BOUND_S}s")
    assert _timeouts(make_engine(own, statement_timeout_s=BOUND_S)) == ("5s", f"{BOUND_S}s")


@pytest.mark.parametrize("value", ["0", "3601", "1.5", "soon"])
def test_an_invalid_statement_timeout_is_refused(
    value: str, clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_STATEMENT_TIMEOUT_S", "45")
    assert StorageSettings().database_statement_timeout_s == 45
    monkeypatch.setenv("FACEGATE_DATABASE_STATEMENT_TIMEOUT_S", value)
    with pytest.raises(ValidationError, match=re.escape("database_statement_timeout_s")):
        StorageSettings()
