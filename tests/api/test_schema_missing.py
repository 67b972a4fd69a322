"""A database whose schema is gone under the running server (tables dropped, an empty database restored):
every route answers 503 `{"status": "schema_missing", ...}` without Retry-After, /readyz says
`schema_missing`, and one error line without a traceback says what is missing and what to run; once the
schema is migrated again the same server answers. SQLite answered 503 `database_unavailable` with
Retry-After 5 (wait for an outage that is none), PostgreSQL a bare 500 with a traceback per request."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from recognition import Recognizer
from storage import Engine, Keyring, Role, create_schema
from tests.api.conftest import make_services, make_tokens, wait_for_gallery
from tests.storage.test_schema_missing import drop_every_table

DETAIL = (
    "the database lacks the schema this server needs (never created, dropped or older): the request was not "
    "carried out; an operator must bring it up to date (`facegate init`), retrying will not help"
)


def test_a_schema_dropped_under_the_server_is_503_schema_missing_until_it_is_migrated(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    group_faces: list[bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    services = make_services(engine, keyring, recognizer)
    auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.admin]}"}
    photo = {"photo": ("probe.jpg", group_faces[0], "image/jpeg")}
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        wait_for_gallery(services)
        assert client.get("/people", headers=auth).status_code == 200
        drop_every_table(engine)
        with caplog.at_level(logging.WARNING, logger="api"):
            answers = {
                "GET /people": client.get("/people", headers=auth),
                "GET /events": client.get("/events", headers=auth),
                "POST /identify": client.post("/identify", files=photo, headers=auth),
            }
            ready = client.get("/readyz")
        create_schema(engine)  # what `facegate init` runs
        auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.admin]}"}  # the old keys went too
        back = client.get("/people", headers=auth)

    unavailable = (503, {"status": "schema_missing", "detail": DETAIL})
    for name, answer in answers.items():
        assert (answer.status_code, answer.json()) == unavailable, name
        assert "Retry-After" not in answer.headers, name
    assert (ready.status_code, ready.json()) == (503, {"status": "schema_missing"})
    assert "Retry-After" not in ready.headers
    lines = [
        (r.levelno, r.exc_info is not None, r.getMessage()) for r in caplog.records if r.name == "api.errors"
    ]
    missing = (
        'relation "api_key" does not exist'
        if engine.dialect.name == "postgresql"
        else "no such table: api_key"
    )
    assert lines == [
        (
            logging.ERROR,
            False,
            "GET /people answered 503: SchemaMissing: the database lacks a table or column this release "
            f"needs ({missing}): it has no schema revision: it was never migrated, or its tables were "
            "dropped after this process started; `facegate init` creates them",
        )
    ]
    assert back.status_code == 200 and back.json()["total"] == 0
