"""Failed authentications counted in the Redis every machine runs are shared by all API workers, and a Redis
that is down costs the limit, never a request."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import Engine, Keyring, Role
from tests.api.conftest import make_services, make_tokens

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


@pytest.fixture
def client_address() -> Iterator[str]:
    """An address no earlier run counted failures for; its counters are deleted afterwards."""
    address = f"198.51.100.{uuid.uuid4().hex}"
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis at {REDIS_URL} is part of every machine and CI: {exc}")
    yield address
    store = redis.Redis.from_url(REDIS_URL)
    for key in store.scan_iter(match=f"*{address}*"):
        store.delete(key)


def _workers(engine: Engine, keyring: Keyring, recognizer: Recognizer, storage: str) -> list[FastAPI]:
    """Two apps on one database, as two server processes would be."""
    settings = ApiSettings(auth_max_failures=3, auth_failure_window_s=600, auth_failure_storage=storage)
    return [create_app(make_services(engine, keyring, recognizer), settings=settings) for _ in range(2)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_workers_sharing_redis_share_the_failure_limit(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, client_address: str
) -> None:
    admin = make_tokens(engine)[Role.admin]
    first, second = _workers(engine, keyring, recognizer, REDIS_URL)
    wrong = _bearer(admin[:-2] + "xx")
    with (
        TestClient(first, client=(client_address, 40000)) as on_first,
        TestClient(second, client=(client_address, 40001)) as on_second,
    ):
        statuses = [on_first.get("/events", headers=wrong).status_code for _ in range(2)]
        statuses.append(on_second.get("/events", headers=wrong).status_code)
        statuses.append(on_second.get("/events", headers=wrong).status_code)
        statuses.append(on_first.get("/events", headers=wrong).status_code)
        statuses.append(on_first.get("/events", headers=_bearer(admin)).status_code)

    assert statuses == [401, 401, 401, 429, 429, 200]  # the valid key is served over the limit


def test_in_memory_counters_are_per_worker(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> None:
    admin = make_tokens(engine)[Role.admin]
    first, second = _workers(engine, keyring, recognizer, "memory://")
    with (
        TestClient(first, client=("203.0.113.9", 40000)) as on_first,
        TestClient(second, client=("203.0.113.9", 40001)) as on_second,
    ):
        statuses = [on_first.get("/events", headers=_bearer(admin[:-2] + "xx")).status_code for _ in range(4)]
        elsewhere = on_second.get("/events", headers=_bearer(admin)).status_code

    assert statuses == [401, 401, 401, 429]
    assert elsewhere == 200


def test_a_redis_that_is_down_costs_the_limit_not_the_request(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = make_tokens(engine)[Role.admin]
    app, _ = _workers(engine, keyring, recognizer, CLOSED_PORT_URL)
    with caplog.at_level(logging.ERROR, logger="api.auth"), TestClient(app) as client:
        wrong = [client.get("/events", headers=_bearer(admin[:-2] + "xx")).status_code for _ in range(4)]
        right = client.get("/events", headers=_bearer(admin)).status_code

    assert wrong == [401, 401, 401, 401]
    assert right == 200
    assert any("counters unreachable" in record.getMessage() for record in caplog.records)


def test_an_unknown_counter_store_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="auth_failure_storage"):
        ApiSettings(auth_failure_storage="memcached://127.0.0.1:11211")
