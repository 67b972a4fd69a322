"""answers to create requests sent with an Idempotency-Key, replayed when the client retries

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotent_response",
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("request_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("response_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.key_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id", "idempotency_key"),
    )
    with op.batch_alter_table("idempotent_response", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotent_response_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_idempotent_response_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotent_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotent_response_person_id"))
        batch_op.drop_index(batch_op.f("ix_idempotent_response_created_at"))
    op.drop_table("idempotent_response")
