"""/readyz while the database cannot be reached (really: a SQLite file in a directory that does not exist,
PostgreSQL on a closed port, the test PostgreSQL cut away by a TCP proxy): 503 with Retry-After and a
status word in the schema of its other answers, documented in the OpenAPI schema. It answered FastAPI's
`{"detail": ...}` without Retry-After, a body no client of the other states could read."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from recognition import Recognizer
from storage import Engine, Keyring, make_engine
from tests.api.conftest import make_services, wait_for_gallery
from tests.api.test_database_outage import ManualClock
from tests.gate.pg_proxy import TcpProxy


def _closed_port() -> int:
    """A local port nothing listens on (bound for a moment to find a free one, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UNREACHABLE = {
    "sqlite-no-directory": lambda tmp_path: f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'facegate.db'}",
    "postgresql-closed-port": lambda _tmp_path: f"postgresql://postgres@127.0.0.1:{_closed_port()}/facegate",
}


_OUTAGE_LOGGERS = {"api.errors", "api.routes.health"}


def _documented_statuses(schema: dict[str, Any]) -> list[str]:
    """The status words the OpenAPI schema gives for /readyz's 503."""
    content = schema["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]
    model = content["schema"]["$ref"].rsplit("/", 1)[-1]
    return list(schema["components"]["schemas"][model]["properties"]["status"]["enum"])


@pytest.mark.parametrize("where", sorted(UNREACHABLE))
def test_readyz_says_database_unavailable_with_retry_after(
    where: str, tmp_path: Path, keyring: Keyring, recognizer: Recognizer, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(UNREACHABLE[where](tmp_path))
    with TestClient(create_app(make_services(engine, keyring, recognizer))) as client:
        with caplog.at_level(logging.WARNING, logger="api"):
            ready = client.get("/readyz")
        schema = client.app.openapi()  # type: ignore[attr-defined]
    engine.dispose()
    assert ready.status_code == 503 and ready.json() == {"status": "database_unavailable"}, ready.text
    assert ready.headers["Retry-After"] == "5"
    assert "database_unavailable" in _documented_statuses(schema)
    # One warning line, not an error with a traceback (probes come every few seconds).
    logged = [(r.name, r.levelname, r.exc_info) for r in caplog.records if r.name in _OUTAGE_LOGGERS]
    assert logged == [("api.errors", "WARNING", None)]


def test_readyz_probes_of_an_outage_log_one_line_per_interval_shared_with_the_other_routes(
    tmp_path: Path, keyring: Keyring, recognizer: Recognizer, caplog: pytest.LogCaptureFixture
) -> None:
    """A load balancer probing every second wrote one line a probe: the probes share the other routes'
    rate limit (at most one line every 10 s on the app's clock; the next counts the answers left out)."""
    clock = ManualClock()
    engine = make_engine(UNREACHABLE["sqlite-no-directory"](tmp_path))
    services = replace(make_services(engine, keyring, recognizer), monotonic=clock)
    with TestClient(create_app(services)) as client, caplog.at_level(logging.WARNING, logger="api"):
        probes = []
        for _ in range(5):
            probes.append(client.get("/readyz"))
            clock.now_s += 1.0
        probes.append(client.get("/people", headers={"Authorization": "Bearer fg_abc_def"}))
        clock.now_s += 5.0
        probes.append(client.get("/readyz"))
    engine.dispose()
    assert [probe.status_code for probe in probes] == [503] * 7
    lines = [(r.levelno, r.exc_info, r.getMessage()) for r in caplog.records if r.name in _OUTAGE_LOGGERS]
    assert len(lines) == 2, lines
    assert lines[0][:2] == (logging.WARNING, None)
    assert lines[0][2].startswith("GET /readyz answered 503, retry after 5 s: DatabaseUnavailable: ")
    assert lines[1][2].startswith("GET /readyz answered 503, retry after 5 s: DatabaseUnavailable: ")
    assert lines[1][2].endswith(" (5 more since the last such line)")


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_ready_server_is_not_ready_while_its_database_is_cut_away(
    engine: Engine, database_url: str, proxy: TcpProxy, keyring: Keyring, recognizer: Recognizer
) -> None:
    """Ready, then `database_unavailable` while the connection is reset and refused, then ready again
    once the database is back: the probe takes a replica out of rotation and puts it back by itself."""
    proxied = make_engine(proxy.url_for(database_url))  # `engine` migrated the database behind it
    services = make_services(proxied, keyring, recognizer)
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        before = client.get("/readyz")
        proxy.cut()
        down = client.get("/readyz")
        proxy.restore()
        back = client.get("/readyz")
    proxied.dispose()
    assert before.status_code == 200 and before.json() == {"status": "ready"}
    assert down.status_code == 503 and down.json() == {"status": "database_unavailable"}, down.text
    assert down.headers["Retry-After"] == "5"
    assert back.status_code == 200 and back.json() == {"status": "ready"}
