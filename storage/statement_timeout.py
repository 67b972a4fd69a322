"""PostgreSQL's bound on one statement: how long it may run (statement_timeout) and wait for a lock
(lock_timeout), set on every connection of an engine, lifted by the long jobs inside their own transaction.

Without it a statement that waits for a lock another session holds (an operator's open psql transaction, a
stuck migration, a long backup) waits for as long as it is held: each API request or gate write that needs
the row or table pins a pooled connection and a server thread, until the whole API stops answering. With it,
PostgreSQL cancels the statement (57014 or 55P03) and the caller gets StatementTimeout, a DatabaseUnavailable
(HTTP 503 with Retry-After).

The bound is per statement, so a job made of many short statements (the audit verification and the events
export by keyset pages, the idempotency purge by batches) is never cut by it. A job whose single statement
may run long lifts it in its transaction: `allow_long_statements` (a full gallery load, a backup or a
restore, a master key rotation: running long is not cut, a lock wait still is) or `allow_long_waits` (the
schema upgrade: its migrations may rewrite big tables, and a process that starts while another migrates
waits for it). SET LOCAL ends with the transaction, so the pooled connection returns to the bound.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Connection, Engine, event

_BOUNDED = ("statement_timeout", "lock_timeout")


def _set_by_url(url: URL) -> set[str]:
    """The timeouts the URL's libpq `options` set (`options=-c statement_timeout=0`): the operator's value
    wins over the setting's."""
    options = url.query.get("options", "")
    text = " ".join(options) if isinstance(options, tuple) else options
    return {name for name in _BOUNDED if name in text}


def bound_statements(engine: Engine, *, statement_timeout_s: int) -> None:
    """Give every new PostgreSQL connection of `engine` (the pool's, the pre-ping's reconnect) a
    statement_timeout and a lock_timeout of `statement_timeout_s`, unless the URL's `options` sets one
    (that one is left to the URL). A no-op on SQLite."""
    if engine.dialect.name != "postgresql":
        return
    names = [name for name in _BOUNDED if name not in _set_by_url(engine.url)]
    if not names:
        return
    statements = [f"SET {name} = {int(statement_timeout_s * 1000)}" for name in names]

    def set_bound(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        dbapi_connection.commit()  # a session setting made in a transaction rolled back would be undone

    event.listen(engine, "connect", set_bound)


def allow_long_statements(connection: Connection) -> None:
    """No statement of the rest of `connection`'s transaction is cut for running long; a lock wait still
    ends at the bound. For a job whose one statement may read or write a whole table (a gallery of a
    million templates). PostgreSQL only; SQLite has no such bound."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")


def allow_long_waits(connection: Connection) -> None:
    """Neither bound for the rest of `connection`'s transaction: the schema upgrade's, whose migrations may
    rewrite big tables and wait for the readers of a table they alter, and which waits for another
    process's upgrade to end. PostgreSQL only."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
