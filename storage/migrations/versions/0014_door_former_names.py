"""doors keep their former names, so gates configured with one still find the renamed door

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "door_former_name",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("door_id", sa.Integer(), nullable=False),
        sa.Column("renamed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["door_id"], ["door.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("door_former_name", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_door_former_name_door_id"), ["door_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("door_former_name", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_door_former_name_door_id"))
    op.drop_table("door_former_name")
