"""Every `facegate access` command closes its database engine; on SQLite and PostgreSQL.

They opened an engine and never disposed of it, so its pooled connection was left to the garbage
collector: on PostgreSQL psycopg's ResourceWarning, which fails any test calling one (warnings are errors).
"""

from __future__ import annotations

import gc

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage import StorageSettings, create_person, open_database, session_scope

runner = CliRunner()
EVERY_ACCESS_COMMAND = [
    ["access", "group", "create", "staff"],
    ["access", "group", "add-member", "1", "1"],
    ["access", "group", "list"],
    ["access", "group", "remove-member", "1", "1"],
    ["access", "rule", "add", "--door", "lab", "--group-id", "1", "--day", "mon", "--start", "08:00",
     "--end", "17:00"],
    ["access", "rule", "list", "--door", "lab"],
    ["access", "rule", "delete", "1"],
    ["access", "group", "delete", "1"],
]  # fmt: skip


def test_every_access_command_leaves_no_connection_open(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    engine = open_database(StorageSettings())
    with session_scope(engine) as session:
        create_person(session, name="Carol")
    engine.dispose()
    for command in EVERY_ACCESS_COMMAND:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        gc.collect()  # an engine left open is collected here, and its connection's warning fails this test
