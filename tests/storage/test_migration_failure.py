"""A migration the database refuses is MigrationFailed naming it, and nothing of the upgrade is kept."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage import (
    DatabaseUnavailable,
    Engine,
    MigrationFailed,
    SchemaTooNew,
    create_schema,
    current_revision,
    make_engine,
)
from storage.migrate import upgrade_schema
from tests.storage.migration_helpers import SHIPPED_HEAD, add_migration, failing_migration

HALF = "CREATE TABLE half_applied (id INTEGER)"
# The database's own words: SQLite and PostgreSQL (an OperationalError and a ProgrammingError in psycopg).
MISSING_TABLE = "UPDATE no_such_table SET x = 1"
MISSING_SAID = r"no such table: no_such_table|relation \"no_such_table\" does not exist"
# A backfill that cannot parse what it reads: a plain Python error, no database error.
UNPARSABLE_BACKFILL = "json.loads(op.get_bind().exec_driver_sql(\"SELECT 'not json'\").scalar_one())"
# PostgreSQL refuses a label ALTER TYPE ... ADD VALUE added in the same transaction (an OperationalError).
UNSAFE_ENUM = (
    "CREATE TYPE shade AS ENUM ('light')",
    "ALTER TYPE shade ADD VALUE 'dark'",
    "SELECT 'dark'::shade",
)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


@pytest.fixture
def at_0012(database_url: str) -> Iterator[Engine]:
    """A database last migrated by the release of 0012: the failing upgrade runs 0013 (on SQLite a batch
    table copy, whose first statement is DDL) before 0099."""
    engine = make_engine(database_url)
    upgrade_schema(engine, "0012")
    yield engine
    engine.dispose()


def _refused(engine: Engine, *, said: str) -> MigrationFailed:
    """The upgrade to 0099 fails as MigrationFailed, and the database is exactly as it was at 0012."""
    tables = _tables(engine)
    with pytest.raises(
        MigrationFailed, match=rf"migration 0099 failed.*stays at 0012\): ({said})$"
    ) as refused:
        create_schema(engine)
    assert current_revision(engine) == "0012"
    assert _tables(engine) == tables  # no half_applied, no batch-copy leftover of 0013
    return refused.value


def test_a_refused_migration_names_itself_and_leaves_the_database_as_it_was(
    at_0012: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_migration(tmp_path, monkeypatch, failing_migration(HALF, MISSING_TABLE))

    _refused(at_0012, said=MISSING_SAID)

    (tmp_path / "migrations" / "versions" / "0099_test_only.py").write_text(failing_migration(HALF))
    create_schema(at_0012)  # the mended migration then applies
    assert current_revision(at_0012) == "0099"
    assert "half_applied" in _tables(at_0012)


def test_a_migration_failing_in_its_own_code_names_itself_and_leaves_the_database_as_it_was(
    at_0012: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_migration(tmp_path, monkeypatch, failing_migration(HALF, then=UNPARSABLE_BACKFILL))

    refused = _refused(at_0012, said=r"JSONDecodeError: Expecting value: line 1 column 1 \(char 0\)")

    assert isinstance(refused.__cause__, json.JSONDecodeError)


def test_an_operational_error_of_a_migration_is_no_unreachable_database(
    at_0012: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if at_0012.dialect.name != "postgresql":
        pytest.skip("SQLite's OperationalError case is the missing table above")
    add_migration(tmp_path, monkeypatch, failing_migration(HALF, *UNSAFE_ENUM))

    _refused(at_0012, said='unsafe use of new value "dark" of enum type shade')


def test_a_connection_lost_during_a_migration_is_an_unavailable_database(
    at_0012: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if at_0012.dialect.name != "postgresql":
        pytest.skip("a SQLite file cannot drop its connection")
    add_migration(
        tmp_path, monkeypatch, failing_migration(HALF, "SELECT pg_terminate_backend(pg_backend_pid())")
    )

    tables = _tables(at_0012)
    with pytest.raises(DatabaseUnavailable, match="lost the database during migration 0099"):
        create_schema(at_0012)
    assert current_revision(at_0012) == "0012"
    assert _tables(at_0012) == tables


def test_a_database_a_newer_release_migrated_is_refused_unchanged(engine: Engine) -> None:
    head = current_revision(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))

    with pytest.raises(SchemaTooNew) as refused:
        upgrade_schema(engine)

    assert str(refused.value) == (
        f"the database is at schema revision 0099, which this FaceGate release does not know (its newest "
        f"is {head}): a newer release upgraded it; run that release, or restore a backup taken before the "
        "upgrade"
    )
    assert current_revision(engine) == "0099"


def test_an_upgrade_kept_out_of_sqlites_write_lock_says_so_and_is_no_failed_migration(tmp_path: Path) -> None:
    """A gate or server writing to the same SQLite file all through the busy timeout: nothing is wrong with
    the migration, so the operator is told to retry, not that a migration failed."""
    path = tmp_path / "facegate.db"
    upgrade_schema(make_engine(f"sqlite:///{path}"), "0015")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock until ROLLBACK
    engine = make_engine(f"sqlite:///{path}", sqlite_busy_timeout_s=0.2)

    with pytest.raises(DatabaseUnavailable, match=re.escape("FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S")):
        create_schema(engine)
    writer.execute("ROLLBACK")
    assert current_revision(engine) == "0015"
    create_schema(engine)
    assert current_revision(engine) == SHIPPED_HEAD
