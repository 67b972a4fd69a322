"""gallery epoch: a restore gives the gallery a new one, so a gate at the restored version number reloads

A restore numbers the gallery from the backup's version, which a running gate may hold already from before
the restore (with other people in it): it saw no change. Gates now compare the epoch with the version.
Existing galleries keep the empty epoch until a restore.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 05:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gallery_version", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("epoch", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("gallery_version", schema=None) as batch_op:
        batch_op.drop_column("epoch")
