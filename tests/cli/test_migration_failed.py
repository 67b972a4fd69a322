"""Commands that migrate the database say a refused migration in one line, with no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from storage import create_schema, make_engine
from tests.storage.migration_helpers import add_migration, failing_migration


@pytest.mark.parametrize("command", [["init"], ["people", "list"], ["serve"]], ids=" ".join)
def test_a_refused_migration_is_one_line(
    command: list[str], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    add_migration(tmp_path, monkeypatch, failing_migration("UPDATE no_such_table SET x = 1"))

    result = CliRunner().invoke(app, command)

    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exception
    said = " ".join(result.output.split())  # rich wraps the line at the console's width
    assert said.startswith("error: MigrationFailed: migration 0099 failed"), result.output
    assert said.endswith("no_such_table") or said.endswith('"no_such_table" does not exist'), said
    assert "Traceback" not in result.output and said.count("error:") == 1


@pytest.mark.parametrize("command", [["init"], ["people", "list"]], ids=" ".join)
def test_a_database_a_newer_release_migrated_is_one_line(
    command: list[str], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    engine = make_engine(database_url)
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()

    result = CliRunner().invoke(app, command)

    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exception
    said = " ".join(result.output.split())
    assert said.startswith("error: SchemaTooNew: the database is at schema revision 0099"), result.output
    assert "Traceback" not in result.output and said.count("error:") == 1


def test_a_migration_failing_in_its_own_code_is_one_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    add_migration(tmp_path, monkeypatch, failing_migration(then="json.loads('not json')"))

    result = CliRunner().invoke(app, ["init"])

    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exception
    said = " ".join(result.output.split())
    assert said.startswith("error: MigrationFailed: migration 0099 failed"), result.output
    assert said.endswith("JSONDecodeError: Expecting value: line 1 column 1 (char 0)"), said
    assert "Traceback" not in result.output and said.count("error:") == 1
