"""SQLite never gives a deleted person's, group's or rule's id to a new row (AUTOINCREMENT)

Without AUTOINCREMENT, SQLite numbers a new row max(id) + 1, so after the newest person was erased the
next person created got their id, and the audit log's events of the erased person (it keeps their id)
read as the new person's. PostgreSQL's sequences never hand an id out twice: a no-op there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table whose rows FaceGate deletes, with the columns that still name its ids once a row is gone:
# for people the gallery change log, which the server alone writes (each deletion logs person_removed).
# Not the audit log: gates post their events with a device key, and a device naming person 2147483647
# would give every later person an id past 2**31 - 1, the API's bound on ids and PostgreSQL's int4.
_REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "person": (("gallery_change", "person_id"),),
    "access_group": (),
    "door_access_rule": (),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # Rebuilding a table drops the old one, and with foreign keys on SQLite would first delete every
        # row that references it (ON DELETE CASCADE): templates, keys, memberships, rules.
        raise CommandError("0016 rebuilds tables that others reference: run it through storage.migrate")
    for table, references in _REFERENCES.items():
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
        _seed_sequence(table, [f"SELECT max({column}) FROM {other}" for other, column in references])


def _seed_sequence(table: str, used_elsewhere: list[str]) -> None:
    """The next id of `table` is above every id it ever held that is still known (its own rows', and
    those only the gallery change log names now)."""
    highest = " UNION ALL ".join([f"SELECT max(id) AS m FROM {table}", *used_elsewhere])
    seq = op.get_bind().execute(sa.text(f"SELECT max(m) FROM ({highest})")).scalar()
    op.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :table").bindparams(table=table))
    if seq is not None and seq > 0:
        insert = sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :seq)")
        op.execute(insert.bindparams(table=table, seq=seq))


def downgrade() -> None:
    """Nothing to undo: 0015's code works the same on AUTOINCREMENT tables, and a rebuild back would hand
    used ids out again."""
