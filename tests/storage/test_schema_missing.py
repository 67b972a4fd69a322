"""A database without the schema this release needs, met inside a transaction, is SchemaMissing naming what
is missing and what to do, not an outage. Every process migrates at its start, so this is the schema
dropped, emptied or replaced by an older one under a running process. SQLite raised it as
DatabaseUnavailable (its 'no such table' is an OperationalError), PostgreSQL as sqlalchemy's
ProgrammingError past every handler."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import ProgrammingError

from storage import (
    DatabaseUnavailable,
    Engine,
    SchemaMissing,
    create_schema,
    current_door_name,
    ensure_door,
    list_doors,
    make_engine,
    session_scope,
)
from storage.db import connection_scope
from storage.migrate import head_revision, upgrade_schema


def drop_every_table(engine: Engine, *, keep_revision: bool = False) -> None:
    """What dropping the database's tables under a running process leaves (enum types included, so that
    the migrations can create them again)."""
    tables = [t for t in inspect(engine).get_table_names() if not (keep_revision and t == "alembic_version")]
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        cascade = " CASCADE" if engine.dialect.name == "postgresql" else ""
        for table in tables:
            connection.execute(text(f'DROP TABLE IF EXISTS "{table}"{cascade}'))
        if engine.dialect.name == "postgresql" and not keep_revision:
            for (name,) in connection.execute(
                text(
                    "SELECT typname FROM pg_type JOIN pg_namespace n ON n.oid = typnamespace "
                    "WHERE nspname = current_schema() AND typtype = 'e'"
                )
            ).all():
                connection.execute(text(f'DROP TYPE "{name}"'))


def _missing_table(engine: Engine, table: str) -> str:
    return (
        f'relation "{table}" does not exist'
        if engine.dialect.name == "postgresql"
        else f"no such table: {table}"
    )


def test_a_database_emptied_under_a_running_process_is_schema_missing_until_migrated(engine: Engine) -> None:
    drop_every_table(engine)

    with pytest.raises(SchemaMissing) as raised, session_scope(engine) as session:
        list_doors(session)
    with pytest.raises(SchemaMissing), connection_scope(engine) as connection:
        connection.execute(text("SELECT id FROM door"))

    assert not isinstance(raised.value, DatabaseUnavailable)
    assert str(raised.value) == (
        f"the database lacks a table or column this release needs ({_missing_table(engine, 'door')}): it has "
        "no schema revision: it was never migrated, or its tables were dropped after this process started; "
        "`facegate init` creates them"
    )
    create_schema(engine)  # what `facegate init` (any facegate command) runs at its start
    with session_scope(engine) as session:
        assert list_doors(session) == []


def test_a_schema_older_than_the_release_names_both_revisions(database_url: str) -> None:
    """Revision 0013, before door_former_name (an older release's dump restored under a running server)."""
    engine = make_engine(database_url)
    upgrade_schema(engine, "0013")
    try:
        with pytest.raises(SchemaMissing) as raised, session_scope(engine) as session:
            current_door_name(session, "front")
    finally:
        engine.dispose()

    assert str(raised.value).endswith(
        f"({_missing_table(engine, 'door_former_name')}): it is at schema revision 0013, older than this "
        f"release's {head_revision()}; `facegate init` migrates it"
    )


def test_a_table_dropped_from_the_newest_schema_says_to_restore(engine: Engine) -> None:
    with session_scope(engine) as session:
        ensure_door(session, name="front")
    drop_every_table(engine, keep_revision=True)

    with pytest.raises(SchemaMissing) as raised, session_scope(engine) as session:
        list_doors(session)

    assert str(raised.value).endswith(
        f"it is at this release's schema revision {head_revision()}, so the schema was changed outside "
        "FaceGate; restore the database from a backup"
    )


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_statement_postgresql_cannot_parse_is_still_a_bug(engine: Engine) -> None:
    """Only a missing table or column (42P01, 42703) is SchemaMissing; another ProgrammingError keeps its
    own type and traceback (a 500 at the API)."""
    with pytest.raises(ProgrammingError), session_scope(engine) as session:
        session.execute(text("SELEC 1"))
