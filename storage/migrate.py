"""Schema migrations with Alembic: every database, SQLite or PostgreSQL, is brought to the head revision."""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db_errors import is_sqlite_busy, message, translate
from storage.errors import DatabaseUnavailable, MigrationFailed, SchemaTooNew
from storage.file_modes import private_file
from storage.statement_timeout import allow_long_waits

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x46616365  # "Face": any constant shared by every FaceGate process


def _config(connection: object | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this code ships."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory locks: processes on the same host serialise on a lock file beside it."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    try:
        handle = os.fdopen(private_file(Path(f"{database}.migrate-lock"), os.O_WRONLY | os.O_APPEND), "a")
    except OSError as exc:
        raise DatabaseUnavailable(f"cannot open the database directory: {exc}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's way to rebuild a table that others reference (its ALTER TABLE page, steps 1 and 12): with
    foreign keys on, dropping the old copy would delete every row referencing it (ON DELETE CASCADE). The
    pragma cannot change inside a transaction, so it is set around it."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _dangling(connection: Connection) -> Counter[tuple[str, str]]:
    """How many rows of each table reference a missing row of each other (SQLite): those an upgrade adds
    fail it, as foreign keys are off meanwhile. Counted, not listed: a table rebuild renumbers rowids."""
    return Counter(
        (table, parent)
        for table, _rowid, parent, _fkid in connection.exec_driver_sql("PRAGMA foreign_key_check")
    )


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to `revision`, all in one transaction; concurrent callers wait for each other.
    Neither the statement timeout nor the lock timeout of the engine cuts it.

    Raises:
        DatabaseUnavailable: the database cannot be reached, or the connection was lost meanwhile.
        MigrationFailed: a migration failed (the database refused a statement, or the migration's own code
            raised); nothing of the upgrade was kept.
        SchemaTooNew: a newer release migrated the database (its revision is none of this release's).
    """
    try:
        with (
            _sqlite_file_lock(engine),
            engine.connect() as connection,
            _sqlite_foreign_keys_off(connection),
            connection.begin(),
        ):
            if connection.dialect.name == "postgresql":
                # A migration may rewrite a big table; gates and the API may start together: one migrates,
                # the others wait (however long it takes), then see head.
                allow_long_waits(connection)
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            elif connection.dialect.name == "sqlite":
                # pysqlite begins a transaction only before INSERT/UPDATE/DELETE: DDL ahead of the first
                # (a batch copy's CREATE TABLE) would be committed at once and outlive a failed upgrade.
                connection.exec_driver_sql("BEGIN")
            _run_migrations(connection, revision)
    except OperationalError as exc:
        if is_sqlite_busy(exc):
            raise translate(exc) from exc
        raise DatabaseUnavailable(f"cannot reach the database: {exc.orig}") from exc


def _run_migrations(connection: Connection, revision: str) -> None:
    """`command.upgrade` in the caller's transaction; a failure names the migration that raised it."""
    start = MigrationContext.configure(connection).get_current_revision()
    applied: list[str | None] = [start]
    config = _config(connection)
    script = ScriptDirectory.from_config(config)
    known = {migration.revision for migration in script.walk_revisions()}
    if start is not None and start not in known:
        raise SchemaTooNew(
            f"the database is at schema revision {start}, which this FaceGate release does not know (its "
            f"newest is {script.get_current_head()}): a newer release upgraded it; run that release, or "
            "restore a backup taken before the upgrade"
        )
    # An unknown target is the caller's error, raised before any migration.
    target = script.get_revision(revision)
    is_checked = connection.dialect.name == "sqlite" and target is not None and start != target.revision
    dangling = _dangling(connection) if is_checked else Counter()
    config.attributes["on_version_apply"] = lambda *, step, **_: applied.append(step.up_revision_id)
    try:
        command.upgrade(config, revision)
    except DBAPIError as exc:
        if is_sqlite_busy(exc):  # another process's writes, not the migration's fault
            raise translate(exc) from exc
        if exc.connection_invalidated:
            lost = f"lost the database during migration {_following(script, applied[-1])}: {message(exc)}"
            raise DatabaseUnavailable(lost) from exc
        raise _failed(script, start=start, last_applied=applied[-1], said=message(exc)) from exc
    except Exception as exc:  # a migration is code of its own (a backfill's parsing, an op it misuses)
        said = ": ".join([type(exc).__name__, *str(exc).splitlines()[:1]])
        raise _failed(script, start=start, last_applied=applied[-1], said=said) from exc
    if is_checked and (new := _dangling(connection) - dangling):
        stays = f"at {start}" if start else "empty"
        rows = ", ".join(f"{count} of {table} to {parent}" for (table, parent), count in sorted(new.items()))
        raise MigrationFailed(
            f"the upgrade left rows referencing missing ones, so it was rolled back (the database stays "
            f"{stays}): {rows}"
        )


def _failed(
    script: ScriptDirectory, *, start: str | None, last_applied: str | None, said: str
) -> MigrationFailed:
    """The migration after `last_applied` failed; the caller's transaction rolls the whole upgrade back."""
    stays = f"at {start}" if start else "empty"
    return MigrationFailed(
        f"migration {_following(script, last_applied)} failed and the upgrade was rolled back (the database "
        f"stays {stays}): {said}"
    )


def _following(script: ScriptDirectory, revision: str | None) -> str:
    """The revision applied after `revision` (None: the first one)."""
    successors = script.get_bases() if revision is None else script.get_revision(revision).nextrev
    return ", ".join(sorted(successors))


def missing_schema_advice(engine: Engine) -> str:
    """What to do about a table or column the database lacks, by the schema revision it is at."""
    try:
        revision = current_revision(engine)
    except DBAPIError:
        return "its schema revision cannot be read; `facegate init` brings the schema up to date"
    script = ScriptDirectory.from_config(_config())
    head = script.get_current_head()
    if revision is None:
        return (
            "it has no schema revision: it was never migrated, or its tables were dropped after this process "
            "started; `facegate init` creates them"
        )
    if revision == head:
        return (
            f"it is at this release's schema revision {head}, so the schema was changed outside FaceGate; "
            "restore the database from a backup"
        )
    if revision not in {migration.revision for migration in script.walk_revisions()}:
        return f"it is at schema revision {revision}, which a newer release made; run that release"
    return (
        f"it is at schema revision {revision}, older than this release's {head}; `facegate init` migrates it"
    )


def schema_drift(engine: Engine) -> list[object]:
    """Differences between the migrated database and the SQLModel tables (empty when they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))
