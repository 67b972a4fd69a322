"""Readiness after a restore (SQLite and PostgreSQL as the restored database, real models and photos): the
change log cannot say who was removed since the server's last gallery, so /identify answers 503 until the
server's full reload succeeds, and /readyz must say not ready meanwhile (it said 200 with its last gallery:
a load balancer kept sending /identify to a replica that could only answer 503)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

import httpx2 as httpx
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from enrollment import EnrollmentSettings, enroll
from recognition import Recognizer
from storage import (
    Engine,
    Keyring,
    Role,
    create_backup,
    create_person,
    create_schema,
    make_engine,
    restore_backup,
    session_scope,
)
from tests.api.conftest import make_services, make_tokens, wait_for_gallery
from tests.api.test_gallery_loading import _photo
from tests.data import knn_examples


def _identify(client: TestClient, token: str) -> httpx.Response:
    probe = knn_examples() / "test" / "obama1.jpg"
    files = {"photo": (probe.name, probe.read_bytes(), "image/jpeg")}
    return client.post("/identify", files=files, headers={"Authorization": f"Bearer {token}"})


def _installation_with_obama(path: Path, keyring: Keyring, recognizer: Recognizer) -> tuple[Engine, int, str]:
    """Another installation (SQLite, its own master key) with Obama enrolled and a device key."""
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with session_scope(engine) as session:
        obama = create_person(session, name="Obama").id
        assert obama is not None
        enroll(
            session,
            keyring,
            recognizer,
            person_id=obama,
            photos=[_photo("obama")],
            settings=EnrollmentSettings(),
        )
    return engine, obama, make_tokens(engine)[Role.admin]  # identifies everyone


def test_a_server_whose_restored_gallery_cannot_load_is_not_ready(
    engine: Engine, recognizer: Recognizer, tmp_path: Path
) -> None:
    """The restore brought data keys under a master key the running server does not hold (its keys come
    from FACEGATE_MASTER_KEY, read once at start; a key file would be re-read): every reload fails, and
    /identify answers 503 with the backoff's wait. /readyz answered 200 throughout; now it says `failed`
    with the same wait, and the server restarted with both keys is ready and identifies."""
    server_key, backup_key = secrets.token_bytes(32), secrets.token_bytes(32)
    source, obama, admin_token = _installation_with_obama(
        tmp_path / "source.db", Keyring([backup_key]), recognizer
    )
    files = create_backup(source, tmp_path / "backup", master_keys=None, cipher=Keyring([backup_key]))
    source.dispose()
    # A stopped clock: the backoff after the failed reload outlasts the test's requests.
    running = replace(make_services(engine, Keyring([server_key]), recognizer), monotonic=lambda: 1000.0)
    with TestClient(create_app(running, settings=ApiSettings())) as client:
        wait_for_gallery(running)
        before = client.get("/readyz")  # a complete (empty) gallery of the new, empty database
        restore_backup(engine, data=files.data, keys=files.keys, cipher=Keyring([backup_key]))
        _identify(client, admin_token)  # starts the reload the log cannot give, which fails
        wait_for_gallery(running)
        identified = _identify(client, admin_token)
        ready = client.get("/readyz")
    restarted = make_services(engine, Keyring([server_key, backup_key]), recognizer)
    with TestClient(create_app(restarted, settings=ApiSettings())) as client:
        wait_for_gallery(restarted)
        ready_again = client.get("/readyz")
        found = _identify(client, admin_token)
    assert before.status_code == 200 and before.json() == {"status": "ready"}
    assert identified.status_code == 503 and "could not be loaded" in identified.json()["detail"]
    assert ready.status_code == 503 and ready.json() == {"status": "failed"}, ready.text
    assert ready.headers["Retry-After"] == identified.headers["Retry-After"] == "1"
    assert ready_again.status_code == 200 and ready_again.json() == {"status": "ready"}
    assert found.status_code == 200, found.text
    assert [face["person_id"] for face in found.json()["faces"]] == [obama]
