"""Run by tests/storage/test_dead_peer.py inside a network namespace of its own (`unshare --net`): an engine
reaches the real PostgreSQL over TCP through a proxy to the server's unix socket, then the namespace's
loopback goes down, a path that drops every packet (a host gone, a pulled cable). Prints one JSON line:
what the engine's next operation did within the hang limit.

    python -m tests.storage.dead_peer_probe SCENARIO DATABASE_URL SOCKET_FILE DEAD_PEER_TIMEOUT_S

SCENARIO: `sent` (a statement sent after the path went: never acknowledged) or `awaiting` (the path goes
while a statement runs on the server: the connection waits for an answer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from urllib.parse import urlsplit

import psycopg
from sqlalchemy import text

from storage import Engine, make_engine, session_scope
from tests.concurrency import Worker
from tests.gate.pg_proxy import TcpProxy

HANG_S = 60.0
"""A hang detector's limit: Linux retransmits for about 15 minutes, and waits for an answer for good."""
SLEEP_S = 20
"""The statement the `awaiting` scenario runs on the server while its path goes."""


def _statement(engine: Engine, sql: str) -> None:
    with session_scope(engine) as session:
        session.connection().execute(text(sql))


def _observer(database_url: str, socket_file: str) -> psycopg.Connection:
    """A connection over the unix socket itself, which the namespace's loopback does not carry."""
    parts = urlsplit(database_url)
    directory, _, name = socket_file.rpartition("/")
    return psycopg.connect(
        host=directory,
        port=name.rsplit(".", 1)[-1],
        user=parts.username or "postgres",
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
    )


def _wait_until_running(observer: psycopg.Connection, worker: Worker) -> None:
    deadline = time.monotonic() + HANG_S
    query = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%%'"
    while observer.execute(query).fetchone() == (0,):
        assert worker.thread.is_alive(), "the statement ended before the path went"
        assert time.monotonic() < deadline, "the statement never reached the server"
        time.sleep(0.05)


def main(scenario: str, database_url: str, socket_file: str, dead_peer_timeout_s: int) -> dict[str, str]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    proxy = TcpProxy("127.0.0.1", 0, unix_socket=socket_file)
    engine = make_engine(
        proxy.url_for(database_url, connect_timeout_s=None), dead_peer_timeout_s=dead_peer_timeout_s
    )
    try:
        _statement(engine, "SELECT 1")  # the pool keeps this connection
    except Exception as exc:
        return {"outcome": "setup", "error": f"{type(exc).__name__}: {exc}"}
    sql = "SELECT 1" if scenario == "sent" else f"SELECT pg_sleep({SLEEP_S})"
    worker = Worker(lambda: _statement(engine, sql))
    worker.thread.daemon = True  # a hung one must not keep the process
    if scenario == "sent":
        subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
        worker.thread.start()
    else:
        with _observer(database_url, socket_file) as observer:
            worker.thread.start()
            _wait_until_running(observer, worker)
        subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
    worker.thread.join(timeout=HANG_S)
    if worker.thread.is_alive():
        return {"outcome": "hung", "error": f"still waiting after {HANG_S:.0f} s"}
    if not worker.errors:
        return {"outcome": "returned", "error": ""}
    error = worker.errors[0]
    return {"outcome": "raised", "error": f"{type(error).__name__}: {error}"}


if __name__ == "__main__":
    scenario, url, socket_file, timeout_s = sys.argv[1:]
    sys.stdout.write(json.dumps(main(scenario, url, socket_file, int(timeout_s))) + "\n")
    sys.stdout.flush()
    os._exit(0)  # no engine disposal, no joins: their connections' path is gone
