"""A console form holds one pooled database connection at a time: its session check and its change share
the request's session, so k concurrent forms complete with a pool of k connections."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from api.app import create_app
from api.settings import ApiSettings
from storage import Engine, Role, create_group, create_person, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.data import no_face_photos

WAIT_S = 60.0  # generous: the shared machine is heavily loaded


@dataclass
class CheckedOut:
    """Connections checked out of an engine's pool now, and the most at once since the last reset."""

    now: int = 0
    peak: int = 0

    def checkout(self, *_args: object) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def checkin(self, *_args: object) -> None:
        self.now -= 1


@contextmanager
def counting(engine: Engine) -> Iterator[CheckedOut]:
    count = CheckedOut()
    event.listen(engine, "checkout", count.checkout)
    event.listen(engine, "checkin", count.checkin)
    try:
        yield count
    finally:
        event.remove(engine, "checkout", count.checkout)
        event.remove(engine, "checkin", count.checkin)


@pytest.mark.parametrize(
    ("path", "data", "photo", "status"),
    [
        ("/ui/access/groups", {"name": "night shift"}, None, 303),
        ("/ui/access/groups", {"name": "taken"}, None, 409),  # refused: the page rendered after the rollback
        ("/ui/people/{person_id}/rename", {"name": "Grace"}, None, 303),
        ("/ui/people/{person_id}/delete", {}, None, 200),
        ("/ui/people", {"name": "Grace"}, "face", 303),
        ("/ui/people/{person_id}/photos", {}, "face", 303),
        ("/ui/people/{person_id}/photos", {}, "no face", 422),  # enrollment's refusal, rolled back
        ("/ui/logout", {}, None, 303),
    ],
    ids=[
        "add-group",
        "add-group-refused",
        "rename",
        "erase",
        "enroll",
        "add-photo",
        "add-no-face",
        "sign-out",
    ],
)
def test_a_console_form_holds_one_connection_at_a_time(
    api: ApiHarness,
    group_faces: list[bytes],
    path: str,
    data: dict[str, str],
    photo: str | None,
    status: int,
) -> None:
    with session_scope(api.services.engine) as session:
        person_id = create_person(session, name="Ada").id
        create_group(session, name="taken")
    photos = {"face": group_faces[0], "no face": (no_face_photos()[0].read_bytes())}
    files = [] if photo is None else [("photos", ("photo.jpg", photos[photo], "image/jpeg"))]
    csrf = sign_in(api.client, api.tokens[Role.admin])
    with counting(api.services.engine) as count:
        response = api.client.post(
            path.format(person_id=person_id),
            data={**data, "csrf_token": csrf},
            files=files,
            follow_redirects=False,
        )
    assert response.status_code == status, response.text
    assert (count.peak, count.now) == (1, 0)


def _small_pool_copy(engine: Engine, *, pool_size: int) -> Engine:
    """Another engine on `engine`'s database with `pool_size` connections, no overflow, a 5 s wait."""
    connect_args = {"check_same_thread": False} if engine.dialect.name == "sqlite" else {}
    return create_engine(
        engine.url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=5,
        connect_args=connect_args,
        hide_parameters=True,
    )


def test_as_many_concurrent_forms_as_pooled_connections_all_complete(api: ApiHarness) -> None:
    """k renames at once, each from its own thread and event loop, each holding its first connection (the
    session check) until all k hold one: with two connections a request, each then waited for a second
    until the pool's timeout and answered 500."""
    pool_size = 3
    small = _small_pool_copy(api.services.engine, pool_size=pool_size)
    with session_scope(small) as session:
        ids = [create_person(session, name=f"p{index}").id for index in range(pool_size)]
    all_hold_one = threading.Barrier(pool_size, timeout=WAIT_S)

    def hold(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM ended_console_session" in statement:
            all_hold_one.wait()

    app = create_app(replace(api.services, engine=small), settings=ApiSettings())
    clients = [TestClient(app, raise_server_exceptions=False) for _ in ids]  # one event loop each
    tokens = [sign_in(client, api.tokens[Role.admin]) for client in clients]

    def rename(index: int) -> int:
        data = {"name": f"renamed {index}", "csrf_token": tokens[index]}
        return (
            clients[index]
            .post(f"/ui/people/{ids[index]}/rename", data=data, follow_redirects=False)
            .status_code
        )

    event.listen(small, "before_cursor_execute", hold)
    try:
        with ThreadPoolExecutor(pool_size) as pool:
            answers = list(pool.map(rename, range(pool_size)))
    finally:
        event.remove(small, "before_cursor_execute", hold)
    small.dispose()
    assert answers == [303] * pool_size
