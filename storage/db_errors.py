"""Translation of the database driver's errors into storage errors (E2), for session_scope.

The messages name the table and columns involved, read from the driver's diagnostics and the models'
metadata; never the statement or its values (those could be people's names or ciphertexts). The driver's
error is not chained as it is either: its text holds the statement, its parameters and PostgreSQL's DETAIL
("Key (name)=(...)", "Failing row contains (...)"), and a 5xx logs the chain. `redacted` keeps its type,
code, constraint and traceback frames, and nothing else.

The ORM's StaleDataError (an UPDATE or DELETE of a loaded row matched none: another transaction deleted
it after this one read it) becomes NotFound. Its message names only the table, so it is chained as it is.
"""

from __future__ import annotations

import re

from sqlalchemy import Table
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import SQLModel

from storage.errors import (
    Conflict,
    ConstraintViolation,
    DatabaseUnavailable,
    InvalidValue,
    MissingReference,
    NotFound,
    StatementTimeout,
    StorageError,
    TransactionAborted,
)

_UNIQUE = {"23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}
_FOREIGN_KEY = {"23503", "SQLITE_CONSTRAINT_FOREIGNKEY"}
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected
_UNDEFINED = {"42P01", "42703"}  # undefined_table, undefined_column
_SQLITE_BUSY = "SQLITE_BUSY"  # its busy timeout ran out (the extended SQLITE_BUSY_* codes never wait)
_CANCELLED = {"57014", "55P03"}  # query_canceled (statement_timeout), lock_not_available (lock_timeout)
_SQLITE_UNDEFINED = re.compile(r"no such (table|column): |table \S+ has no column named ")
_SQLITE_COLUMNS = re.compile(r"constraint failed: ([\w.]+(?:, [\w.]+)*)")
_STALE_TABLE = re.compile(r"on table '(\w+)'")


class RedactedDriverError(Exception):
    """The driver error behind a storage error, reduced to its type, code and constraint name."""


def redacted(exc: DBAPIError) -> RedactedDriverError:
    """`exc` without its statement, parameters or the database's message: the cause to chain (its frames
    still show where the statement ran)."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    kind = type(exc.orig)
    detail = f"{kind.__module__}.{kind.__qualname__}, code {_code(exc) or 'unknown'}"
    cause = RedactedDriverError(f"{detail}, constraint {constraint}" if constraint else detail)
    return cause.with_traceback(exc.__traceback__)


def _code(exc: DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE (psycopg) or SQLite's extended result name (Python 3.11+)."""
    return getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "sqlite_errorname", None)


def _words(table: str) -> str:
    return table.replace("_", " ")


def _table(name: str | None) -> Table | None:
    return SQLModel.metadata.tables.get(name) if name else None


def _unique_columns(table: Table, constraint: str | None) -> list[str]:
    """Columns of the unique index or constraint called `constraint` (PostgreSQL names it)."""
    if constraint == f"{table.name}_pkey":
        return [column.name for column in table.primary_key.columns]
    for index in table.indexes:
        if index.name == constraint:
            return [column.name for column in index.columns]
    for column in table.columns:  # unique=True without an index: PostgreSQL's default name
        if constraint in {f"{table.name}_{column.name}_key", f"uq_{table.name}_{column.name}"}:
            return [column.name]
    return []


def _collision(exc: IntegrityError) -> str:
    """'another door has the same name', from PostgreSQL's diagnostics or SQLite's message."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:
        table = _table(diag.table_name)
        if table is None:
            return "another row has the same unique key"
        columns = _unique_columns(table, diag.constraint_name) or ["key"]
        return f"another {_words(table.name)} has the same {' and '.join(columns)}"
    found = _SQLITE_COLUMNS.search(str(exc.orig))
    if found is None:
        return "another row has the same unique key"
    pairs = [item.split(".", 1) for item in found.group(1).split(", ")]
    columns = [pair[-1] for pair in pairs]
    return f"another {_words(pairs[0][0])} has the same {' and '.join(columns)}"


def _missing(exc: IntegrityError) -> str:
    """'the person this person key refers to does not exist' (PostgreSQL); SQLite says less."""
    diag = getattr(exc.orig, "diag", None)
    table = _table(diag.table_name) if diag is not None else None
    if diag is None or table is None:
        return "a row this change refers to does not exist (deleted meanwhile?)"
    for key in table.foreign_key_constraints:
        default_name = f"{table.name}_{'_'.join(key.column_keys)}_fkey"
        if diag.constraint_name in {key.name, default_name}:
            target = _words(key.referred_table.name)
            return f"the {target} this {_words(table.name)} refers to does not exist (deleted meanwhile?)"
    return f"a row this {_words(table.name)} refers to does not exist (deleted meanwhile?)"


def _stale(exc: StaleDataError) -> NotFound:
    """'the person row this change writes was deleted meanwhile': a retry would meet the same absence,
    so NotFound (404), as a foreign key to a deleted row is, not the retryable TransactionAborted."""
    found = _STALE_TABLE.search(str(exc))
    table = _words(found[1]) if found else "a"
    return NotFound(f"the {table} row this change writes was deleted meanwhile")


def translate(exc: DBAPIError | StaleDataError) -> StorageError:
    """The storage error for a driver error (or the ORM's StaleDataError) raised inside a transaction.

    Unique violation → Conflict; foreign-key violation → MissingReference; another constraint →
    ConstraintViolation; a value the column cannot hold → InvalidValue; deadlock or serialization failure
    (PostgreSQL 40P01, 40001) → TransactionAborted; a statement cancelled at the statement or lock timeout
    (57014, 55P03) → StatementTimeout; a loaded row deleted meanwhile (StaleDataError) → NotFound; SQLite's
    write lock not had within the busy timeout → DatabaseUnavailable naming its setting; anything else →
    DatabaseUnavailable.
    """
    if isinstance(exc, StaleDataError):
        return _stale(exc)
    code = _code(exc)
    if isinstance(exc, DataError):  # its message quotes the value
        return InvalidValue(f"a value does not fit its database column ({code or 'unknown'})")
    if isinstance(exc, IntegrityError):
        if code in _UNIQUE:
            return Conflict(_collision(exc))
        if code in _FOREIGN_KEY:
            return MissingReference(_missing(exc))
        return ConstraintViolation(f"a write broke a database constraint ({code or 'unknown'})")
    if code in _RETRYABLE:
        return TransactionAborted(f"the database aborted the transaction ({code}); it can be retried")
    if is_sqlite_busy(exc):
        return DatabaseUnavailable(
            "other writers kept this one out of the SQLite database's write lock for its whole busy timeout "
            "(FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S; database is locked): nothing was kept; retry, raise "
            "the timeout, or use PostgreSQL for many concurrent writers"
        )
    if code in _CANCELLED:
        return StatementTimeout(
            f"the database cancelled a statement ({message(exc)}): it waited for a lock another session "
            "holds (an open transaction, a migration, a backup) or ran longer than "
            "FACEGATE_DATABASE_STATEMENT_TIMEOUT_S allows; nothing of the transaction was kept"
        )
    return DatabaseUnavailable(f"database error: {message(exc)}")


def is_sqlite_busy(exc: DBAPIError) -> bool:
    """Other writers held SQLite's write lock for the connection's whole busy timeout: nothing is wrong with
    the database or the statement, and a retry can succeed."""
    return _code(exc) == _SQLITE_BUSY


def is_schema_missing(exc: DBAPIError) -> bool:
    """The statement named a table or column the database lacks (PostgreSQL 42P01 or 42703, SQLite's words;
    SQLite raises it as an OperationalError, PostgreSQL as a ProgrammingError)."""
    return _code(exc) in _UNDEFINED or _SQLITE_UNDEFINED.match(message(exc)) is not None


def message(exc: DBAPIError) -> str:
    """The first line of the database's own message (the lines after it may quote the statement's values)."""
    text = str(exc.orig)
    return text.splitlines()[0] if text else type(exc.orig).__name__
