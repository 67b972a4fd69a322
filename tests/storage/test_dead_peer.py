"""A PostgreSQL connection whose peer stops answering after the handshake (a host gone, a pulled cable: a
path that drops every packet, staged for real by taking down the loopback of a network namespace of the
test's own) fails as DatabaseUnavailable after make_engine's dead-peer bound, by libpq's tcp_user_timeout
(a statement sent and never acknowledged) and TCP keepalives (a connection waiting for an answer). Without
them the first waited as long as Linux retransmits (about 15 minutes) and the second for good.

A hung server whose host still answers TCP (the held proxy's `swallow`) is not detected by either: the
kernel acknowledges the statement and the probes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from storage import make_engine
from tests.conftest import POSTGRES_STATUS, POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]
DEAD_PEER_TIMEOUT_S = 4
PROBE_LIMIT_S = 180.0
"""The probe's own hang detector stops at 60 s; this one stops a probe that does not."""


def _socket_file() -> str:
    assert POSTGRES_URL is not None
    with psycopg.connect(POSTGRES_URL, connect_timeout=2) as connection:
        directories = connection.execute("SHOW unix_socket_directories").fetchone()
        port = connection.execute("SHOW port").fetchone()
    assert directories is not None and port is not None
    return f"{str(directories[0]).split(',')[0].strip()}/.s.PGSQL.{port[0]}"


def _namespaces_allowed() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.integration
@pytest.mark.parametrize("scenario", ["sent", "awaiting"])
def test_a_connection_whose_path_drops_every_packet_is_unavailable_after_the_dead_peer_bound(
    scenario: str,
) -> None:
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_STATUS)
    if not _namespaces_allowed():
        pytest.skip("needs `unshare --net` and `ip` (root, or CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    probe = [sys.executable, "-m", "tests.storage.dead_peer_probe", scenario, POSTGRES_URL, _socket_file()]
    done = subprocess.run(
        ["unshare", "--net", *probe, str(DEAD_PEER_TIMEOUT_S)],
        capture_output=True,
        text=True,
        timeout=PROBE_LIMIT_S,
        check=False,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    if found["outcome"] == "setup":
        pytest.skip(f"the server's unix socket does not take the test's user: {found['error']}")
    assert found["outcome"] == "raised", found
    assert found["error"].startswith("DatabaseUnavailable: "), found


def test_the_database_url_s_own_dead_peer_bounds_win() -> None:
    engine = make_engine("postgresql://u@db.example/fg?tcp_user_timeout=1000&keepalives_idle=7")

    _, psycopg_params = engine.dialect.create_connect_args(engine.url)  # what each pooled connect passes
    names = ("keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout")
    assert {name: psycopg_params[name] for name in names} == {
        "keepalives_idle": "7",
        "keepalives_interval": "5",
        "keepalives_count": "3",
        "tcp_user_timeout": "1000",
    }
