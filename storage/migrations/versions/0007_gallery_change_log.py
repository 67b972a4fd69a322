"""gallery change log: gates apply what changed since their version instead of reloading everything

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gallery_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("template_added", "person_removed", "access_changed", name="gallerychangekind"),
            nullable=False,
        ),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("template_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gallery_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gallery_change_version"), ["version"], unique=False)
    with op.batch_alter_table("gallery_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("changes_since", sa.Integer(), nullable=False, server_default="0"))
    # Changes before this revision were never logged: the log starts at the current version.
    op.execute("UPDATE gallery_version SET changes_since = version")


def downgrade() -> None:
    with op.batch_alter_table("gallery_version", schema=None) as batch_op:
        batch_op.drop_column("changes_since")
    with op.batch_alter_table("gallery_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gallery_change_version"))
    op.drop_table("gallery_change")
    sa.Enum(name="gallerychangekind").drop(op.get_bind(), checkfirst=True)
