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
        _recreate_type(_NEW, retired="decision_0012")
        return
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("decision", existing_type=_OLD, type_=_NEW, existing_nullable=False)


def downgrade() -> None:
    recorded = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_event WHERE decision = 'recorded'"))
    if recorded.scalar_one():
        raise CommandError("the audit log holds `recorded` events, which 0012 cannot hold; it stays at 0013")
    if op.get_bind().dialect.name == "postgresql":
        _recreate_type(_OLD, retired="decision_0013")
        return
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.alter_column("decision", existing_type=_NEW, type_=_OLD, existing_nullable=False)


def _recreate_type(labels: sa.Enum, *, retired: str) -> None:
    """Move audit_event.decision to a new PostgreSQL type `decision` holding exactly `labels`' labels.

    Not ALTER TYPE ... ADD VALUE: PostgreSQL refuses a label so added ("unsafe use of new value") until
    its transaction commits, and an upgrade run is one transaction, so a later migration of the same run
    could not write `recorded`. A type created in the transaction is usable at once, and the run stays
    all or nothing; the price is that PostgreSQL rewrites audit_event and its indexes, holding an
    exclusive lock on the table meanwhile (bench/migration_0013.py). Dropping a label needs it anyway.
    """
    quoted = ", ".join(f"'{label}'" for label in labels.enums)
    op.execute(f"ALTER TYPE decision RENAME TO {retired}")
    op.execute(f"CREATE TYPE decision AS ENUM ({quoted})")
    op.execute("ALTER TABLE audit_event ALTER COLUMN decision TYPE decision USING decision::text::decision")
    op.execute(f"DROP TYPE {retired}")
