"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import inspect

from storage import Engine, create_schema, current_revision, head_revision, make_engine, schema_drift


def test_a_fresh_database_is_migrated_to_head_with_no_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    create_schema(engine)

    assert head_revision() is not None
    assert current_revision(engine) == head_revision()
    assert schema_drift(engine) == []
    assert {"person", "person_key", "face_template", "audit_event", "api_key", "door"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_migrating_again_changes_nothing(engine: Engine) -> None:
    """Also checks the `engine` fixture: its copied or replayed migrations leave the head schema, no drift."""
    assert current_revision(engine) == head_revision() and schema_drift(engine) == []

    create_schema(engine)
    create_schema(engine)

    assert current_revision(engine) == head_revision()
    assert schema_drift(engine) == []


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    """Gates and the API start at the same moment on one empty database: every one of them comes up."""
    script = (
        "import sys; from storage import create_schema, make_engine; create_schema(make_engine(sys.argv[1]))"
    )
    starts = [
        subprocess.Popen([sys.executable, "-c", script, database_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = [(process.communicate(timeout=120)[1], process.returncode) for process in starts]
    failures = [stderr for stderr, code in outcomes if code != 0]

    assert failures == []
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
