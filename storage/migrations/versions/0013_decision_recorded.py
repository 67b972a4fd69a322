"""audit decisions gain `recorded`: an event of the audit log itself, no access decision

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 19:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = sa.Enum("granted", "denied", name="decision")
_NEW = sa.Enum("granted", "denied", "recorded", name="decision")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A native enum type: the new label is usable once this transaction commits (PostgreSQL 12+).
        op.execute("ALTER TYPE decision ADD VALUE IF NOT EXISTS 'recorded'")
        return
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("decision", existing_type=_OLD, type_=_NEW, existing_nullable=False)


def downgrade() -> None:
    recorded = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_event WHERE decision = 'recorded'"))
    if recorded.scalar_one():
        raise CommandError("the audit log holds `recorded` events, which 0012 cannot hold; it stays at 0013")
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL cannot drop an enum label: the column moves to a new type without it.
        op.execute("ALTER TYPE decision RENAME TO decision_0013")
        op.execute("CREATE TYPE decision AS ENUM ('granted', 'denied')")
        op.execute(
            "ALTER TABLE audit_event ALTER COLUMN decision TYPE decision USING decision::text::decision"
        )
        op.execute("DROP TYPE decision_0013")
        return
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("decision", existing_type=_NEW, type_=_OLD, existing_nullable=False)
