"""A deleted person's, group's or rule's id never names a new row, on SQLite as on PostgreSQL (0016)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from storage import (
    MAX_DB_INT,
    DoorRuleCreate,
    Engine,
    EventFilter,
    Keyring,
    MigrationFailed,
    Weekday,
    add_member,
    append_event,
    create_door,
    create_door_rule,
    create_group,
    create_person,
    create_schema,
    current_revision,
    delete_door_rule,
    delete_group,
    erase_person,
    head_revision,
    make_engine,
    query_events,
    schema_drift,
    session_scope,
    store_template,
    subject_access,
)
from storage.migrate import MIGRATIONS_DIR, upgrade_schema
from tests.storage.audit_helpers import audited_by, event, post_as_device, verify
from tests.storage.migration_helpers import SHIPPED_HEAD, add_migration, failing_migration

NOW = datetime(2030, 1, 4, 10, 0, tzinfo=UTC)
AUTOINCREMENT_TABLES = {"person", "access_group", "door_access_rule"}
"""The tables whose rows FaceGate deletes and whose ids are integers the database hands out."""


def _person(engine: Engine, name: str) -> int:
    with session_scope(engine) as session:
        person_id = create_person(session, name=name).id
    assert person_id is not None
    return person_id


def _rule(door: str, group_id: int | None, day: Weekday) -> DoorRuleCreate:
    assert group_id is not None
    window = {"weekdays": [day], "start": "08:00", "end": "18:00"}
    return DoorRuleCreate.model_validate({"door": door, "group_id": group_id, **window})


def _logged_then_erased(engine: Engine, keyring: Keyring) -> int:
    """The newest person, who passed the door once and was then erased; their id."""
    person_id = _person(engine, "erased")
    with session_scope(engine) as session:
        append_event(session, keyring, event(2).model_copy(update={"person_id": person_id}))
    with session_scope(engine) as session:
        erase_person(session, person_id, erased_by=audited_by(keyring))
    return person_id


def test_a_person_created_after_the_newest_was_erased_gets_a_new_id(engine: Engine, keyring: Keyring) -> None:
    _person(engine, "older")
    erased = _logged_then_erased(engine, keyring)

    created = _person(engine, "new")

    assert created > erased
    with session_scope(engine) as session:
        assert query_events(session, where=EventFilter(person_id=created), limit=10)[1] == 0
        assert subject_access(session, created, now=NOW).events == []


def test_a_group_or_rule_created_after_the_newest_was_deleted_gets_a_new_id(engine: Engine) -> None:
    with session_scope(engine) as session:
        door = create_door(session, name="front").name
        kept = create_group(session, name="staff").id
        deleted = create_group(session, name="visitors").id
        rule = create_door_rule(session, _rule(door, kept, Weekday.mon)).id
    with session_scope(engine) as session:
        delete_door_rule(session, rule, allow_open_doors=True)  # the door's only rule
        delete_group(session, deleted)

    with session_scope(engine) as session:
        assert create_group(session, name="contractors").id > deleted
        assert create_door_rule(session, _rule(door, kept, Weekday.tue)).id > rule


def test_the_models_and_the_migrations_make_the_same_tables_autoincrement(engine: Engine) -> None:
    """Alembic's comparison (schema_drift) does not look at AUTOINCREMENT: a model and a migration that
    disagree would give a fresh SQLite database and a migrated one different ids."""
    modelled = {
        table.name
        for table in SQLModel.metadata.sorted_tables
        if table.dialect_options["sqlite"]["autoincrement"]
    }
    assert modelled == AUTOINCREMENT_TABLES
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
    assert {name for name, sql in schema if "AUTOINCREMENT" in sql} == AUTOINCREMENT_TABLES


def _rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as connection:
        return {
            table: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))), key=repr)
            for table in inspect(connection).get_table_names()
            if table not in {"alembic_version", "sqlite_sequence"}
        }


def _data_at_0015(engine: Engine, keyring: Keyring) -> int:
    """People with templates in a group with a door rule, and the audit log of one erased since; their id."""
    with session_scope(engine) as session:
        door = create_door(session, name="front").name
        group = create_group(session, name="staff").id
        create_door_rule(session, _rule(door, group, Weekday.mon))
        for name in ("ada", "bo"):
            person_id = create_person(session, name=name).id
            assert person_id is not None
            add_member(session, group_id=group, person_id=person_id)
            store_template(
                session,
                keyring,
                person_id=person_id,
                model_id="sface-2021dec",
                plaintext=os.urandom(512),
                source_name=f"{name}.jpg",
            )
    return _logged_then_erased(engine, keyring)


def test_upgrading_from_0015_keeps_every_row_and_hands_no_id_out_again(
    database_url: str, keyring: Keyring
) -> None:
    """The erased person's id is only in the audit log now: a new person must not get it."""
    engine = make_engine(database_url)
    upgrade_schema(engine, "0015")
    erased = _data_at_0015(engine, keyring)
    before = _rows(engine)

    upgrade_schema(engine)

    assert current_revision(engine) == head_revision()
    assert schema_drift(engine) == []
    # 0017 adds the gallery's epoch, empty until a restore
    assert _rows(engine) == {**before, "gallery_version": [(*row, "") for row in before["gallery_version"]]}
    assert verify(engine, keyring).is_ok
    created = _person(engine, "new")
    assert created > erased
    with session_scope(engine) as session:
        assert query_events(session, where=EventFilter(person_id=created), limit=10)[1] == 0
    engine.dispose()


def test_upgrading_from_0015_counts_no_person_id_that_a_device_posted(
    tmp_path: Path, keyring: Keyring
) -> None:
    """A device key may post events naming any person id up to 2**31 - 1: 0016 started SQLite's count
    there, so every later person's id was past the API's bound and PostgreSQL's int4. (SQLite only: 0016
    does nothing on PostgreSQL, whose restore tests/storage/test_backup.py checks.)"""
    engine = make_engine(f"sqlite:///{tmp_path / 'facegate.db'}")
    upgrade_schema(engine, "0015")
    erased = _data_at_0015(engine, keyring)
    post_as_device(engine, keyring, person_id=MAX_DB_INT)

    upgrade_schema(engine)

    assert _person(engine, "new") == erased + 1
    engine.dispose()


def test_a_migration_leaving_rows_that_reference_a_missing_one_is_rolled_back(
    tmp_path: Path, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run with SQLite's foreign keys off (a table rebuild must not cascade): a migration
    that deletes a referenced row instead would leave the templates of a person who is gone."""
    engine = make_engine(f"sqlite:///{tmp_path / 'facegate.db'}")
    create_schema(engine)
    _data_at_0015(engine, keyring)
    before = _rows(engine)
    add_migration(tmp_path, monkeypatch, failing_migration("DELETE FROM person WHERE name = 'ada'"))

    stays = rf"so it was rolled back \(the database stays at {SHIPPED_HEAD}\)"
    with pytest.raises(MigrationFailed, match=rf"missing ones, {stays}: .*1 of face_template to person"):
        create_schema(engine)

    assert current_revision(engine) == SHIPPED_HEAD
    assert _rows(engine) == before
    engine.dispose()


def test_0016_run_with_foreign_keys_on_refuses_and_deletes_nothing(tmp_path: Path, keyring: Keyring) -> None:
    """Alembic run by hand on a FaceGate connection (foreign keys on): the rebuild would cascade."""
    engine = make_engine(f"sqlite:///{tmp_path / 'facegate.db'}")
    upgrade_schema(engine, "0015")
    _data_at_0015(engine, keyring)
    before = _rows(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))

    with pytest.raises(CommandError, match="run it through storage.migrate"), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0016")

    assert current_revision(engine) == "0015"
    assert _rows(engine) == before
    engine.dispose()
