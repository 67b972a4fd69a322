"""Engine construction, schema creation and transactional sessions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import URL, Connection, Engine, event, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, create_engine

from storage.db_errors import is_schema_missing, message, redacted, translate
from storage.errors import (
    CommitUnconfirmed,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    SchemaMissing,
    StorageError,
)
from storage.file_modes import private_directory, private_sqlite_file
from storage.migrate import missing_schema_advice, upgrade_schema
from storage.settings import StorageSettings
from storage.statement_timeout import bound_statements

logger = logging.getLogger(__name__)


_SUPPORTED_SCHEMES = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})
_URL_FORMS = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE"


def _normalise_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3, the driver this project installs.

    Raises:
        InvalidDatabaseUrl: not a URL, or a database or driver this project does not install. The message
            never quotes the URL, which may hold a password.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    scheme, separator, _ = url.partition("://")
    if not separator:
        raise InvalidDatabaseUrl(f"the database URL is not a URL (no scheme://): {_URL_FORMS}")
    if scheme not in _SUPPORTED_SCHEMES:
        raise InvalidDatabaseUrl(f"database URL scheme {scheme!r} is not supported: {_URL_FORMS}")
    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:  # a port that is no number, say
        raise InvalidDatabaseUrl(f"the {scheme} database URL cannot be read ({exc}): {_URL_FORMS}") from None
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


DEAD_PEER_PROBES = 3
"""Keepalive probes unanswered before libpq gives a connection up (where TCP_USER_TIMEOUT is missing)."""


def _libpq_timeouts(*, connect_timeout_s: int, dead_peer_timeout_s: int) -> dict[str, str]:
    """libpq's connect timeout, and its bounds on a peer that stops answering after the handshake (a host
    gone, a black-holed path): TCP keepalives for a connection waiting for an answer (probes from
    dead_peer_timeout_s / 3 on), tcp_user_timeout for a statement sent and never acknowledged. On Linux a
    connection is given up once tcp_user_timeout passes with probes or data unacknowledged; elsewhere after
    the keepalive probes (about 5/6 of it). A server that answers, however slowly, answers
    the probes: a long statement is never cut by them."""
    return {
        "connect_timeout": str(connect_timeout_s),
        "keepalives_idle": str(max(1, dead_peer_timeout_s // 3)),
        "keepalives_interval": str(max(1, dead_peer_timeout_s // 6)),
        "keepalives_count": str(DEAD_PEER_PROBES),
        "tcp_user_timeout": str(dead_peer_timeout_s * 1000),
    }


def _with_libpq_timeouts(url: str, *, connect_timeout_s: int, dead_peer_timeout_s: int) -> URL:
    """`url` with libpq's timeouts (_libpq_timeouts), each unless it sets its own (the operator's value
    wins). In the URL rather than in connect_args, so every connection made from the engine's URL (the
    gallery feed's LISTEN connection too) has them: without a connect timeout psycopg waits 130 s on a
    database that accepts TCP and never answers, and without the others a connection whose peer is gone
    waits for as long as the kernel retransmits (Linux's tcp_retries2: about 15 minutes), or for good while
    it awaits an answer."""
    parsed = make_url(url)
    wanted = _libpq_timeouts(connect_timeout_s=connect_timeout_s, dead_peer_timeout_s=dead_peer_timeout_s)
    return parsed.update_query_dict(
        {name: value for name, value in wanted.items() if name not in parsed.query}
    )


def _private_sqlite_database(url: URL) -> None:
    """The SQLite file of `url` (none in memory, nor a `file:` URI, which SQLite reads) and its -wal/-shm
    owner-only; see private_sqlite_file."""
    if url.database and url.database != ":memory:" and not url.query.get("uri"):
        private_sqlite_file(Path(url.database))


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout_s: float = 30.0,
    connect_timeout_s: int = 10,
    sqlite_busy_timeout_s: float = 30.0,
    statement_timeout_s: int = 30,
    dead_peer_timeout_s: int = 30,
) -> Engine:
    """Engine for SQLite (foreign keys on, WAL) or PostgreSQL (psycopg 3); its errors never quote the
    statement's parameters (names, ciphertexts), which would reach logged tracebacks.

    The pool settings size the connection pool of PostgreSQL and of a SQLite file (SQLAlchemy's QueuePool;
    an in-memory SQLite database keeps SQLAlchemy's own pool): an operation that finds every connection in
    use for `pool_timeout_s` fails as DatabaseUnavailable. A new PostgreSQL connection (the pre-ping's
    reconnect too) fails as DatabaseUnavailable after `connect_timeout_s` (libpq's minimum is 2 s, per
    address tried), unless the URL sets `connect_timeout`; SQLite ignores it. A SQLite write waits up to
    `sqlite_busy_timeout_s` for the database's write lock (pysqlite's `timeout`, the connection's busy
    timeout; its own default is 5 s), then fails as DatabaseUnavailable; PostgreSQL ignores it. A PostgreSQL
    connection whose peer stops answering (a host gone, a black-holed path) fails as DatabaseUnavailable after
    about `dead_peer_timeout_s` (TCP keepalives and tcp_user_timeout, see _libpq_timeouts; each unless the URL
    sets it); a hung server whose host still answers TCP is not detected by it. A PostgreSQL statement that
    runs or waits for a lock longer than `statement_timeout_s` is cancelled: StatementTimeout (a
    DatabaseUnavailable), unless the URL's `options` sets statement_timeout or lock_timeout (see
    storage/statement_timeout.py for the long jobs that lift it); SQLite ignores it.

    A SQLite database file it finds missing is created empty with mode 0600, so that SQLite's -wal and -shm
    are 0600 too; one that every local user may read loses those bits with a warning (PostgreSQL keeps its
    files in its own data directory).
    """
    url = _normalise_url(url)
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout_s}
    if url.startswith("sqlite"):
        in_memory = url in {"sqlite://", "sqlite:///:memory:"}
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": sqlite_busy_timeout_s},
            hide_parameters=True,
            **({} if in_memory else pool),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        _private_sqlite_database(engine.url)
        return engine
    engine = create_engine(
        _with_libpq_timeouts(
            url, connect_timeout_s=connect_timeout_s, dead_peer_timeout_s=dead_peer_timeout_s
        ),
        pool_pre_ping=True,
        hide_parameters=True,
        **pool,
    )
    bound_statements(engine, statement_timeout_s=statement_timeout_s)
    return engine


def _pool_exhausted() -> DatabaseUnavailable:
    """The pool's own TimeoutError, as the storage error every caller already handles (HTTP 503)."""
    return DatabaseUnavailable(
        "every database connection of this process stayed in use until the pool timeout; raise "
        "FACEGATE_DATABASE_POOL_SIZE / FACEGATE_DATABASE_MAX_OVERFLOW or find what holds them"
    )


def _raise_translated(bind: Engine | Connection, exc: DBAPIError) -> NoReturn:
    """The storage error for a driver error inside a transaction; a ProgrammingError other than a missing
    table or column (a statement the database cannot parse: a bug) is raised as it is, with its traceback."""
    if is_schema_missing(exc):
        engine = bind if isinstance(bind, Engine) else bind.engine
        said = f"the database lacks a table or column this release needs ({message(exc)})"
        raise SchemaMissing(f"{said}: {missing_schema_advice(engine)}") from redacted(exc)
    if isinstance(exc, ProgrammingError):
        raise exc
    raise translate(exc) from redacted(exc)


def create_schema(engine: Engine) -> None:
    """Bring the database to the newest schema with the Alembic migrations (a no-op when it is there).

    Raises:
        DatabaseUnavailable: the database cannot be reached.
        MigrationFailed: a migration failed; the database stays at its former revision.
    """
    upgrade_schema(engine)


def open_database(settings: StorageSettings) -> Engine:
    """The configured database with its tables created, and the data directory (mode 0700 if it was missing:
    it holds the key file, and the SQLite database by default).

    Raises:
        DatabaseUnavailable: the database cannot be reached.
        MigrationFailed: a migration failed; the database stays at its former revision.
    """
    private_directory(settings.home)
    engine = make_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout_s=settings.database_pool_timeout_s,
        connect_timeout_s=settings.database_connect_timeout_s,
        sqlite_busy_timeout_s=settings.database_sqlite_busy_timeout_s,
        statement_timeout_s=settings.database_statement_timeout_s,
    )
    try:
        create_schema(engine)
    except StorageError:
        engine.dispose()  # the caller gets no engine to close: its pooled connection goes now
        raise
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error.

    Raises:
        Conflict: a unique key was taken meanwhile (two creations of one door name at once).
        MissingReference: a row a write refers to was deleted meanwhile.
        ConstraintViolation: another constraint failed (a bug).
        InvalidValue: a value does not fit its column.
        TransactionAborted: PostgreSQL aborted it for a deadlock or serialization failure (retryable).
        DatabaseUnavailable: the database cannot be reached or fails mid-transaction (nothing was kept).
        CommitUnconfirmed: the connection was lost during the commit itself: kept or not, unknown.
        SchemaMissing: a table or column is missing (never migrated, or dropped after the start).
        NotFound: the ORM wrote a row it had read, and another transaction had deleted it meanwhile.
    """
    with Session(engine, expire_on_commit=False) as session, transaction(session):
        yield session


@contextmanager
def transaction(session: Session) -> Iterator[None]:
    """A transaction of its own on `session`: what the session did before is committed first, the block's
    work is committed when it succeeds and rolled back on any error. The session stays usable (its next
    statement begins a new transaction), so a request can run its reads and its change on one connection.

    Raises:
        Conflict, MissingReference, ConstraintViolation, InvalidValue, TransactionAborted,
            DatabaseUnavailable, CommitUnconfirmed, SchemaMissing, NotFound: as session_scope.
    """
    try:
        _commit(session)
        try:
            yield
            session.flush()  # a failed write is not a lost commit: nothing of it was kept
            _commit(session)
        except BaseException:
            session.rollback()
            raise
    except (OperationalError, IntegrityError, DataError, ProgrammingError) as exc:
        _raise_translated(session.get_bind(), exc)
    except PoolTimeout as exc:  # its message holds the pool's sizes and timeout, no statement or value
        raise _pool_exhausted() from exc
    except StaleDataError as exc:  # names the table only: no values to redact
        raise translate(exc) from exc


def _commit(session: Session) -> None:
    """Commit `session`; a connection lost during the COMMIT itself (SQLAlchemy saw a disconnect and
    invalidated it) leaves the outcome unknown, so it is CommitUnconfirmed, never "nothing was kept".
    SQLite never reports a disconnect: a failed commit there was rolled back."""
    try:
        session.commit()
    except OperationalError as exc:
        if not exc.connection_invalidated:
            raise
        raise CommitUnconfirmed(
            "the connection to the database was lost while it committed: the change may or may not have "
            f"been stored ({message(exc)})"
        ) from redacted(exc)


@contextmanager
def connection_scope(engine: Engine) -> Iterator[Connection]:
    """One transaction on a plain connection (bulk Core statements: backup, restore), as session_scope.

    Raises:
        Conflict, MissingReference, ConstraintViolation, InvalidValue, TransactionAborted,
            DatabaseUnavailable, SchemaMissing: as session_scope.
    """
    try:
        with engine.begin() as connection:
            yield connection
    except (OperationalError, IntegrityError, DataError, ProgrammingError) as exc:
        _raise_translated(engine, exc)
    except PoolTimeout as exc:  # its message holds the pool's sizes and timeout, no statement or value
        raise _pool_exhausted() from exc
