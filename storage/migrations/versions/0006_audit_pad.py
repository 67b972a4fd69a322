"""audit events carry the presentation-attack evidence: PAD model, weights hash, score, threshold, cues

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-04 14:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pad_model_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True)
        )
        batch_op.add_column(
            sa.Column("pad_weights_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("pad_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("pad_threshold", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("pad_cues", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("pad_cues")
        batch_op.drop_column("pad_threshold")
        batch_op.drop_column("pad_score")
        batch_op.drop_column("pad_weights_hash")
        batch_op.drop_column("pad_model_id")
