"""access policy: groups, memberships and weekly door rules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_group_name"), ["name"], unique=True)

    op.create_table(
        "access_group_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["access_group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "person_id"),
    )
    with op.batch_alter_table("access_group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_group_member_person_id"), ["person_id"], unique=False)

    op.create_table(
        "door_access_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("door_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("weekdays", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["door_id"], ["door.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["access_group.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("door_access_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_door_access_rule_door_id"), ["door_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_door_access_rule_group_id"), ["group_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("door_access_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_door_access_rule_group_id"))
        batch_op.drop_index(batch_op.f("ix_door_access_rule_door_id"))
    op.drop_table("door_access_rule")
    with op.batch_alter_table("access_group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_group_member_person_id"))
    op.drop_table("access_group_member")
    with op.batch_alter_table("access_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_group_name"))
    op.drop_table("access_group")
