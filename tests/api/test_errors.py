"""The error table: size limits (413), unreadable stored data (500, generic; a gallery that cannot be
loaded 503 until its retry), database down (503)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import ERROR_TABLE, register_error_handlers
from api.settings import ApiSettings
from enrollment import EnrollmentRejected, GalleryLoadFailed, GalleryLoading
from recognition import ImageError, ImageLimits, Recognizer
from storage import (
    Conflict,
    DatabaseUnavailable,
    Keyring,
    KeyringError,
    NotFound,
    Role,
    TransactionAborted,
    create_schema,
    key_id_of,
    make_engine,
)
from tests.api.conftest import ApiHarness, make_services, wait_for_gallery


def test_the_table_maps_each_domain_error() -> None:
    statuses = {error: rule.status_code for error, rule in ERROR_TABLE.items()}
    assert statuses[NotFound] == 404
    assert statuses[Conflict] == 409
    assert statuses[EnrollmentRejected] == 422
    assert statuses[ImageError] == 422
    assert statuses[DatabaseUnavailable] == 503
    assert statuses[KeyringError] == 500
    assert ERROR_TABLE[KeyringError].public_message is not None
    assert ERROR_TABLE[DatabaseUnavailable].public_message is not None


def test_request_over_the_body_limit_is_413_before_parsing(api: ApiHarness, group_faces: list[bytes]) -> None:
    small = create_app(api.services, settings=ApiSettings(max_upload_bytes=len(group_faces[0]) // 2))
    with TestClient(small) as client:
        response = client.post(
            "/identify",
            files={"photo": ("a.jpg", group_faces[0], "image/jpeg")},
            headers=api.auth(Role.device),
        )
    assert response.status_code == 413


def test_photo_over_the_image_limit_is_413_and_writes_nothing(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    real = api.services.recognizer
    limit = len(group_faces[0]) - 1
    strict = Recognizer(
        detector=real.detector, embedder=real.embedder, limits=ImageLimits(max_image_bytes=limit)
    )
    services = make_services(api.services.engine, api.services.keyring, strict)
    person_id = api.create_person()
    before = api.state()
    with TestClient(create_app(services)) as client:
        files = [("photos", ("small.jpg", group_faces[1][:100], "image/jpeg"))]
        files.append(("photos", ("big.jpg", group_faces[0], "image/jpeg")))
        enrolled = client.post(f"/people/{person_id}/faces", files=files, headers=api.auth(Role.admin))
        identified = client.post(
            "/identify",
            files={"photo": ("big.jpg", group_faces[0], "image/jpeg")},
            headers=api.auth(Role.device),
        )
    assert enrolled.status_code == 413
    assert enrolled.json() == {"detail": f"big.jpg: the file is larger than the limit of {limit} bytes"}
    assert identified.status_code == 413
    assert api.state() == before


def test_undecryptable_gallery_is_503_until_its_retry_without_key_details(
    api: ApiHarness, group_faces: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    person_id = api.create_person()
    files = [("photos", ("a.jpg", group_faces[0], "image/jpeg"))]
    assert (
        api.client.post(f"/people/{person_id}/faces", files=files, headers=api.auth(Role.admin)).status_code
        == 201
    )

    other_key = secrets.token_bytes(32)
    wrong = make_services(api.services.engine, Keyring([other_key]), api.services.recognizer)
    wrong = replace(wrong, monotonic=lambda: 1000.0)  # a stopped clock: the backoff outlasts the request
    with caplog.at_level(logging.ERROR, logger="enrollment.gallery"), TestClient(create_app(wrong)) as client:
        wait_for_gallery(wrong)  # the start's load fails; the next waits out a backoff (1 s at first)
        response = client.post(
            "/identify",
            files={"photo": ("a.jpg", group_faces[0], "image/jpeg")},
            headers=api.auth(Role.device),
        )
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "could not be loaded" in response.json()["detail"]
    assert api.services.keyring.primary_key_id not in response.text
    assert key_id_of(other_key) not in response.text
    assert "UnknownKeyId" in caplog.text  # the load's traceback


def test_unreachable_database_is_503_with_a_generic_message(
    tmp_path: Path, keyring: Keyring, recognizer: Recognizer
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'facegate.db'}")
    with pytest.raises(DatabaseUnavailable):
        create_schema(engine)
    with TestClient(create_app(make_services(engine, keyring, recognizer))) as client:
        ready = client.get("/readyz")
        people = client.get("/people", headers={"Authorization": "Bearer fg_abc_def"})
        alive = client.get("/healthz")
    engine.dispose()
    assert ready.status_code == 503 and ready.json() == {"status": "database_unavailable"}
    assert people.status_code == 503 and "facegate.db" not in people.text
    assert alive.status_code == 200


PASSING: dict[str, tuple[Exception, str, str]] = {
    "deadlock": (
        TransactionAborted("the database aborted the transaction (40P01); it can be retried"),
        "1",
        "a concurrent change got in the way and nothing was stored; retry the request",
    ),
    "gallery-loading": (
        GalleryLoading("the gallery is being loaded in full by another request; retry shortly"),
        "5",
        "the gallery is being loaded in full by another request; retry shortly",
    ),
    "gallery-load-failed": (  # its own wait: what is left of the failed load's backoff
        GalleryLoadFailed("the gallery could not be loaded; the next try is in 17 s", retry_after_s=17),
        "17",
        "the gallery could not be loaded; the next try is in 17 s",
    ),
}


@pytest.mark.parametrize(("error", "retry_after", "detail"), PASSING.values(), ids=list(PASSING))
def test_a_passing_failure_is_503_with_retry_after_and_one_log_line_each(
    caplog: pytest.LogCaptureFixture, error: Exception, retry_after: str, detail: str
) -> None:
    """An expected, passing 503 (a deadlock retried, a gallery loading for a minute) logs one warning line
    a request, not a traceback that would bury real failures; the client sees no database detail."""
    app = FastAPI()
    register_error_handlers(app)

    @app.get("/race")
    def race() -> None:
        raise error

    with caplog.at_level(logging.WARNING, logger="api.errors"), TestClient(app) as client:
        answers = [client.get("/race") for _ in range(3)]
    assert {(a.status_code, a.headers["Retry-After"], a.json()["detail"]) for a in answers} == {
        (503, retry_after, detail)
    }
    said = f"GET /race answered 503, retry after {retry_after} s: {type(error).__name__}: {error}"
    assert [(r.levelno, r.exc_info, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, None, said)
    ] * 3
