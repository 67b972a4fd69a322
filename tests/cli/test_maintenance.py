"""`facegate maintenance purge`: expired idempotency answers deleted now, on SQLite and PostgreSQL.

They were purged only by a keyed request or by a running `facegate serve`: a site whose server runs now and
then, or an operator about to take a backup, had no way to delete the answers (which can hold a person's
name) kept past FACEGATE_API_IDEMPOTENCY_RETENTION_S.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage import Engine
from tests.api.test_idempotency import _stored_keys
from tests.api.test_idempotency_purge import _record
from tests.gate.pg_proxy import proxy_to_test_postgres

runner = CliRunner()


def test_purge_deletes_every_expired_answer_and_says_how_many(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three answers of an import two hours ago go, in two batches; the one of half an hour ago stays."""
    monkeypatch.setattr("storage.idempotency.PURGE_BATCH_ROWS", 2)
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEGATE_API_IDEMPOTENCY_RETENTION_S", "3600")
    now = datetime.now(UTC)
    _record(engine, ["import-1", "import-2", "import-3"], at=now - timedelta(hours=2))
    _record(engine, ["recent"], at=now - timedelta(minutes=30))

    result = runner.invoke(app, ["maintenance", "purge"])

    assert result.exit_code == 0, result.output
    line = re.fullmatch(
        r"deleted 3 idempotency answers recorded before (\S+ \S+) UTC\n"
        r"retention: 3600 s \(FACEGATE_API_IDEMPOTENCY_RETENTION_S\)\n",
        result.output,
    )
    assert line is not None, result.output
    before = datetime.fromisoformat(line[1]).replace(tzinfo=UTC)
    assert now - timedelta(hours=1, seconds=1) < before < now - timedelta(minutes=59)
    assert _stored_keys(engine) == 1


@pytest.fixture
def unreachable_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """SQLite: a file in a directory that does not exist. PostgreSQL: the test database behind a cut proxy."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'not-there' / 'facegate.db'}"
        return
    for proxy in proxy_to_test_postgres():
        proxy.cut()
        yield proxy.url_for(database_url)


def test_purge_with_the_database_down_exits_1_naming_it(
    unreachable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", unreachable_url)

    result = runner.invoke(app, ["maintenance", "purge"])

    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: DatabaseUnavailable: "), result.output
    assert "deleted" not in result.output
