"""INSERT ... ON CONFLICT DO NOTHING in the session's dialect: the idempotent first write of a row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel


def insert_if_absent(
    session: Session,
    model: type[SQLModel],
    rows: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str],
) -> None:
    """Insert `rows` (one or many) except those whose `key` columns are taken, without failing.

    Two transactions inserting one key at once: the later waits for the earlier to end and then does
    nothing (PostgreSQL and SQLite alike), instead of failing on the unique index. The caller reads
    the row back, its own or the one committed first.
    """
    insert = postgresql_insert if session.connection().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).on_conflict_do_nothing(index_elements=list(key)), rows)
