"""A test's own PostgreSQL connections, counted by an application_name of its own in pg_stat_activity.

An engine left open keeps its pooled connection until the garbage collector finds the engine, so a count
taken after a run says whether the run closed what it opened, without waiting for the collector.
"""

from __future__ import annotations

import gc
import time
import uuid

import psycopg

CLOSE_WAIT_S = 60.0
"""How long a closed connection may take to leave pg_stat_activity (its backend exits on its own time)."""


def named_database(database_url: str, prefix: str) -> tuple[str, str]:
    """`database_url` (a test schema's, with a query string) under a new application_name; (url, name)."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    return f"{database_url}&application_name={name}", name


def open_connections(database_url: str, application_name: str) -> int:
    """How many connections under `application_name` PostgreSQL has open now."""
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def assert_no_connection_left(database_url: str, application_name: str) -> None:
    """None of the name's connections is open (waited for), and no engine is left for the collector."""
    deadline_s = time.monotonic() + CLOSE_WAIT_S
    while (count := open_connections(database_url, application_name)) > 0:
        assert time.monotonic() < deadline_s, f"{count} connection(s) of {application_name} are still open"
        time.sleep(0.1)
    gc.collect()  # an engine left open is collected here, and its connection's warning fails the test
