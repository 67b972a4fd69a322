"""Failed authentications counted in the database (auth_failure_storage `database`): every API server on
it shares one limit per client address, as several `facegate serve` replicas behind a load balancer run,
with no Redis. With memory:// each server allows the whole limit again (test_auth_failure_storage.py)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import API_AUDIT_DOOR, Decision, Engine, EventFilter, Keyring, Role, query_events, session_scope
from tests.api.conftest import make_services, make_tokens

WINDOW_S = 600


def _replicas(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> list[FastAPI]:
    """Two apps on one database that share nothing else, as two server processes."""
    settings = ApiSettings(
        auth_max_failures=3, auth_failure_window_s=WINDOW_S, auth_failure_storage="database"
    )
    return [create_app(make_services(engine, keyring, recognizer), settings=settings) for _ in range(2)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_servers_on_one_database_share_the_failure_limit(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    admin = make_tokens(engine)[Role.admin]
    first, second = _replicas(engine, keyring, recognizer)
    wrong, unknown = _bearer(admin[:-2] + "xx"), _bearer("fg_nosuchkey_" + "x" * 43)
    with (
        TestClient(first, client=("203.0.113.7", 40000)) as on_first,
        TestClient(second, client=("203.0.113.7", 40001)) as on_second,
        TestClient(second, client=("203.0.113.70", 40002)) as neighbour,
    ):
        statuses = [on_first.get("/events", headers=wrong).status_code]
        statuses.append(on_second.get("/events", headers=unknown).status_code)
        statuses.append(on_first.get("/events", headers=wrong).status_code)
        over = on_second.get("/events", headers=unknown)
        statuses.append(over.status_code)
        statuses.append(on_first.get("/events", headers=wrong).status_code)
        statuses.append(on_second.get("/events", headers=_bearer(admin)).status_code)
        other_address = neighbour.get("/events", headers=wrong).status_code

    assert statuses == [401, 401, 401, 429, 429, 200]  # the valid key is served over the limit
    assert 1 <= int(over.headers["Retry-After"]) <= WINDOW_S
    assert other_address == 401  # 203.0.113.70 is not 203.0.113.7's prefix: its own count
    with session_scope(engine) as session:
        _, audited = query_events(session, where=EventFilter(door=API_AUDIT_DOOR, decision=Decision.denied))
    assert audited == 4  # the failures under the limit; those over it are neither
