"""/readyz of a real app (create_app) whose keyring cannot read what is stored: a wrong master key, or a key
file gone while it runs. It answered 500 (the error table's "stored data cannot be read", meant for bugs)
once a template under a key it does not hold reached its gallery; it is a 503 whose status word names the
cause (`keyring_error`), no key and no key id, without Retry-After (no wait alone helps)."""

from __future__ import annotations

import base64
import logging
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from enrollment import EnrollmentSettings, Photo, enroll
from recognition import Recognizer
from storage import (
    Engine,
    Keyring,
    StorageSettings,
    create_person,
    generate_key,
    load_keyring,
    session_scope,
)
from tests.api.conftest import make_services, wait_for_gallery


def _enroll(engine: Engine, keyring: Keyring, recognizer: Recognizer, photo: bytes) -> None:
    """A person enrolled by another process that holds `keyring` (a replica, `facegate enroll`)."""
    with session_scope(engine) as session:
        person = create_person(session, name="Alice Example")
        assert person.id is not None
        photos, settings = [Photo("0.jpg", photo)], EnrollmentSettings()
        enroll(session, keyring, recognizer, person_id=person.id, photos=photos, settings=settings)


def _readyz_after_an_enrollment(
    engine: Engine, served: Keyring, enrolling: Keyring, recognizer: Recognizer, photo: bytes
) -> tuple[int, int, dict[str, str], dict[str, object]]:
    services = make_services(engine, served, recognizer)
    with TestClient(create_app(services)) as client:
        wait_for_gallery(services)
        before = client.get("/readyz")  # an empty gallery: nothing to decrypt
        _enroll(engine, enrolling, recognizer, photo)
        after = client.get("/readyz")
    return before.status_code, after.status_code, dict(after.headers), after.json()


def test_a_wrong_master_key_makes_readyz_503_keyring_error(
    engine: Engine, recognizer: Recognizer, group_faces: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    right_key, wrong_key = secrets.token_bytes(32), secrets.token_bytes(32)
    with caplog.at_level(logging.INFO):
        before, status, headers, body = _readyz_after_an_enrollment(
            engine, Keyring([wrong_key]), Keyring([right_key]), recognizer, group_faces[0]
        )
    assert (before, status, body) == (200, 503, {"status": "keyring_error"})
    assert "retry-after" not in headers
    errors = [r for r in caplog.records if r.name.startswith("api") and r.levelno >= logging.ERROR]
    assert [r.getMessage().split(":")[0] for r in errors] == ["GET /readyz answered 503"]
    for key in (right_key, wrong_key):
        for text in (base64.urlsafe_b64encode(key).decode(), key.hex()):
            assert text not in caplog.text and text not in str(body)


def test_a_key_file_gone_while_the_server_runs_makes_readyz_503_keyring_error(
    tmp_path: Path, engine: Engine, recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    """The server's key file is removed; a key rotated in elsewhere reaches its gallery (a template sealed
    under a key it does not hold makes the keyring re-read its file, which is gone)."""
    key_file = tmp_path / "master.key"
    key_file.write_text(generate_key() + "\n")
    served = load_keyring(StorageSettings(home=tmp_path, key_file=key_file))
    assert isinstance(served, Keyring)
    key_file.unlink()
    before, status, headers, body = _readyz_after_an_enrollment(
        engine, served, Keyring([secrets.token_bytes(32)]), recognizer, group_faces[0]
    )
    assert (before, status, body) == (200, 503, {"status": "keyring_error"})
    assert "retry-after" not in headers
