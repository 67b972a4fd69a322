"""Test-only migrations: a copy of the shipped migrations plus one more, which storage.migrate then runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import storage.migrate

SHIPPED_HEAD = storage.migrate.head_revision()
"""Read before any test adds a revision after it."""


def add_migration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """Make `source` (a migration module's text) the next revision after the shipped head."""
    migrations = shutil.copytree(storage.migrate.MIGRATIONS_DIR, tmp_path / "migrations")
    (migrations / "versions" / "0099_test_only.py").write_text(source)
    monkeypatch.setattr(storage.migrate, "MIGRATIONS_DIR", migrations)


def failing_migration(*statements: str, then: str = "") -> str:
    """Revision 0099 after the shipped head: it runs `statements` in order (the last one is expected to
    fail), then the Python statement `then` (a data migration's own code, which may fail instead)."""
    body = "".join(f"\n    op.execute({statement!r})" for statement in statements)
    if then:
        body += f"\n    {then}"
    header = f'import json\n\nfrom alembic import op\n\nrevision = "0099"\ndown_revision = "{SHIPPED_HEAD}"\n'
    return f"{header}\n\ndef upgrade() -> None:{body}\n"
