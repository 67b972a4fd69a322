"""audit events carry the writer's event id and the decision's detail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("event_uid", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True)
        )
        batch_op.add_column(
            sa.Column("weights_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("margin", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("quality", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_event_event_uid"), ["event_uid"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_event_event_uid"), type_="unique")
        batch_op.drop_column("rule")
        batch_op.drop_column("quality")
        batch_op.drop_column("margin")
        batch_op.drop_column("weights_hash")
        batch_op.drop_column("event_uid")
