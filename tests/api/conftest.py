"""API fixtures: a real app over the `engine` fixture (SQLite and PostgreSQL), real keyring and models."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.services import AppServices
from api.settings import ApiSettings
from enrollment import EnrollmentSettings
from recognition import Recognizer
from storage import (
    Engine,
    Keyring,
    Role,
    create_api_key,
    gallery_version,
    iter_templates,
    list_people,
    make_engine,
    session_scope,
)
from tests.data import encode_jpeg
from tests.gate.pg_proxy import TcpProxy, proxy_to_test_postgres


@dataclass(frozen=True)
class DbState:
    """What a rejected request must leave untouched."""

    people: int
    templates: int
    gallery_version: int


@dataclass
class ApiHarness:
    client: TestClient
    services: AppServices
    tokens: dict[Role, str]

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def state(self) -> DbState:
        return db_state(self.services)

    def create_person(self, name: str = "Ada") -> int:
        response = self.client.post("/people", json={"name": name}, headers=self.auth(Role.admin))
        assert response.status_code == 201, response.text
        return int(response.json()["id"])


def db_state(services: AppServices) -> DbState:
    with session_scope(services.engine) as session:
        _, people = list_people(session)
        model_id = services.recognizer.model_id
        templates = sum(1 for _ in iter_templates(session, services.keyring, model_id=model_id))
        return DbState(people=people, templates=templates, gallery_version=gallery_version(session))


def make_tokens(engine: Engine) -> dict[Role, str]:
    with session_scope(engine) as session:
        return {
            role: create_api_key(session, role=role, label=f"test {role}", now=datetime.now(UTC))[0]
            for role in Role
        }


def make_services(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, *, clock: Callable[[], datetime] | None = None
) -> AppServices:
    services = AppServices(
        engine=engine, keyring=keyring, recognizer=recognizer, enrollment=EnrollmentSettings()
    )
    return services if clock is None else replace(services, clock=clock)


def wait_for_gallery(services: AppServices, *, timeout_s: float = 60.0) -> None:
    """Until no full load of the shared gallery is under way (the one a started app begins, say): what a
    client retrying its 503s would wait for, without the requests."""
    deadline = time.monotonic() + timeout_s
    while services.gallery.is_loading:
        assert time.monotonic() < deadline, f"the gallery was still loading after {timeout_s} s"
        time.sleep(0.01)


@pytest.fixture
def api(engine: Engine, keyring: Keyring, recognizer: Recognizer) -> Iterator[ApiHarness]:
    services = make_services(engine, keyring, recognizer)
    tokens = make_tokens(engine)
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        wait_for_gallery(services)  # the app's start loads it: a request before the end is answered 503
        yield ApiHarness(client=client, services=services, tokens=tokens)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TCP proxy in front of the test PostgreSQL, to cut the database away and bring it back."""
    yield from proxy_to_test_postgres()


@pytest.fixture
def proxied_services(
    engine: Engine, database_url: str, proxy: TcpProxy, keyring: Keyring, recognizer: Recognizer
) -> Iterator[AppServices]:
    """App services whose engine reaches the test PostgreSQL through `proxy` (`engine` migrated the
    database behind it): cut the proxy and the app loses its database."""
    through_proxy = make_engine(proxy.url_for(database_url))
    yield make_services(through_proxy, keyring, recognizer)
    through_proxy.dispose()


@dataclass(frozen=True)
class Proxied:
    """An API's services on the test PostgreSQL through the proxy, and an admin's Authorization header."""

    engine: Engine
    services: AppServices
    auth: dict[str, str]


@pytest.fixture
def proxied(engine: Engine, proxied_services: AppServices) -> Proxied:
    auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.admin]}"}
    return Proxied(proxied_services.engine, proxied_services, auth)


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def flipped(data: bytes) -> bytes:
    return encode_jpeg(cv2.flip(decode(data), 1))


def rescaled(data: bytes, factor: float) -> bytes:
    return encode_jpeg(cv2.resize(decode(data), None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC))


def side_by_side(left: bytes, right: bytes) -> bytes:
    """Two single-person photos joined into one photo with two faces."""
    a, b = decode(left), decode(right)
    height = max(a.shape[0], b.shape[0])
    a = cv2.copyMakeBorder(a, 0, height - a.shape[0], 0, 0, cv2.BORDER_CONSTANT)
    b = cv2.copyMakeBorder(b, 0, height - b.shape[0], 0, 0, cv2.BORDER_CONSTANT)
    return encode_jpeg(np.hstack([a, b]))


@cache
def huge_png(side_px: int = 20_000) -> bytes:
    """A valid 1-bit grayscale PNG of side_px × side_px: about 40 kB, built row by row without the pixels."""
    assert side_px % 8 == 0

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", side_px, side_px, 1, 0, 0, 0, 0)
    row = bytes(1 + side_px // 8)  # filter byte 0, then a row of black pixels
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(side_px)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
