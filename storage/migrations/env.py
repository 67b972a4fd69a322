"""Alembic environment: runs on the connection that storage.migrate hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
    on_version_apply=context.config.attributes.get("on_version_apply", ()),  # storage.migrate's record
)
with context.begin_transaction():
    context.run_migrations()
