"""Engine and sessions: an unreachable database is one clear error; a failed transaction writes nothing."""

from __future__ import annotations

import pytest

from storage import DatabaseUnavailable, create_person, create_schema, list_people, make_engine, session_scope
from storage.settings import StorageSettings


def test_unreachable_postgresql_is_reported_as_unavailable() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")

    with pytest.raises(DatabaseUnavailable, match="cannot reach the database"):
        create_schema(engine)
    with pytest.raises(DatabaseUnavailable), session_scope(engine) as session:
        list_people(session)


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
