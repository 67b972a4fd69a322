"""A request whose statement waits for a lock another session holds (an operator's open psql transaction
holding the person table, on the real PostgreSQL) answers 503 `database_unavailable` with Retry-After and
says so, after the statement timeout; it waited for as long as the lock was held, pinning a pooled
connection and a server thread, and enough of them stopped the whole API."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import Engine, Keyring, Role, make_engine
from tests.api.conftest import make_services, make_tokens, wait_for_gallery
from tests.concurrency import held_by_another_session, raised_within

HANG_S = 60.0
"""A hang detector's limit, not a speed claim: without the bound the request waits as long as the lock."""
TIMED_OUT = {
    "status": "database_unavailable",
    "detail": "the database did not finish a statement within its time limit (it waited for a lock another "
    "session holds, or ran too long): the request was not carried out and nothing of it was stored; retry "
    "after Retry-After seconds",
}


@pytest.mark.integration
def test_a_request_that_meets_a_held_lock_answers_503_after_the_statement_timeout(
    engine: Engine, database_url: str, keyring: Keyring, recognizer: Recognizer
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's statement_timeout; SQLite has none")
    bounded = make_engine(database_url, statement_timeout_s=1)
    services = make_services(bounded, keyring, recognizer)
    auth = {"Authorization": f"Bearer {make_tokens(engine)[Role.admin]}"}
    answers: list[httpx.Response] = []
    try:
        with TestClient(create_app(services, settings=ApiSettings())) as client:
            wait_for_gallery(services)
            with held_by_another_session(database_url, "LOCK TABLE person IN ACCESS EXCLUSIVE MODE"):
                raised = raised_within(
                    lambda: answers.append(client.get("/people", headers=auth)), hang_s=HANG_S
                )
            answers.append(client.get("/people", headers=auth))  # the lock gone, the same server answers
    finally:
        bounded.dispose()
    assert raised is None, repr(raised)
    assert [answer.status_code for answer in answers] == [503, 200], answers[0].text
    assert answers[0].json() == TIMED_OUT
    assert answers[0].headers["Retry-After"] == "5"
