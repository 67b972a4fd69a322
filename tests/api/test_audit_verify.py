"""GET /audit/verify: auditors see whether the audit chain holds and where it first breaks; POST verifies
from a signed checkpoint on."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from storage import Checkpoint, Role, export_checkpoint, reanchor_checkpoint, session_scope
from tests.api.conftest import ApiHarness
from tests.storage.audit_helpers import append, row, signed_by_stranger, sql


def _verify(api: ApiHarness, role: Role = Role.auditor) -> dict[str, Any]:
    response = api.client.get("/audit/verify", headers=api.auth(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_intact_chain_is_reported_ok(api: ApiHarness) -> None:
    append(api.services.engine, api.services.keyring, range(1, 6))

    body = _verify(api)

    assert body["is_ok"] is True and body["events_checked"] == 5 and body["last_sequence"] == 5
    assert body["reason"] is None and body["broken_sequence"] is None and body["detail"] == ""
    assert _verify(api, Role.admin) == body


def test_an_edited_event_is_named(api: ApiHarness) -> None:
    append(api.services.engine, api.services.keyring, range(1, 6))
    with api.services.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET decision = 'granted' WHERE sequence = 3"))
        event_id = connection.execute(text("SELECT id FROM audit_event WHERE sequence = 3")).scalar_one()

    body = _verify(api)

    assert body["is_ok"] is False and body["reason"] == "edited"
    assert (body["broken_sequence"], body["broken_event_id"], body["events_checked"]) == (3, event_id, 2)
    assert "does not match its HMAC" in body["detail"]


def test_a_value_facegate_never_writes_is_named_not_a_500(api: ApiHarness, database_url: str) -> None:
    """SQLite keeps a decision 'GRANTED' (PostgreSQL's enum refuses it): the verification raised LookupError,
    a 500, instead of naming the event and the column."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's enum type refuses a decision FaceGate never writes")
    append(api.services.engine, api.services.keyring, range(1, 6))
    sql(api.services.engine, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 3")

    body = _verify(api)

    assert (body["is_ok"], body["reason"], body["broken_sequence"], body["events_checked"]) == (
        False,
        "edited",
        3,
        2,
    )
    assert body["broken_event_id"] == row(api.services.engine, 3)["id"]
    assert body["detail"].startswith("its decision holds a value FaceGate never writes ('GRANTED' is not")


def test_devices_may_not_verify(api: ApiHarness) -> None:
    assert api.client.get("/audit/verify", headers=api.auth(Role.device)).status_code == 403


# POST /audit/verify: from a signed checkpoint on, as `facegate audit verify --since-checkpoint FILE`.


def _checkpoint(api: ApiHarness) -> Checkpoint:
    with session_scope(api.services.engine) as session:
        return export_checkpoint(session, api.services.keyring, now=datetime.now(UTC))


def _post(api: ApiHarness, body: str, role: Role = Role.auditor) -> Any:
    headers = api.auth(role) | {"Content-Type": "application/json"}
    return api.client.post("/audit/verify", content=body, headers=headers)


@pytest.fixture
def checkpointed(api: ApiHarness) -> Checkpoint:
    """Nine events; the checkpoint, signed while the chain was intact, covers the first six."""
    append(api.services.engine, api.services.keyring, range(1, 7))
    checkpoint = _checkpoint(api)
    append(api.services.engine, api.services.keyring, range(7, 10))
    return checkpoint


def test_from_a_checkpoint_only_the_events_after_it_are_verified(
    api: ApiHarness, checkpointed: Checkpoint
) -> None:
    sql(api.services.engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 3")  # before it
    assert _verify(api)["broken_sequence"] == 3

    response = _post(api, checkpointed.to_json())

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["is_ok"] is True and body["start_sequence"] == 6
    assert (body["events_checked"], body["last_sequence"]) == (3, 9)
    window = f"events up to 6 (the checkpoint signed {checkpointed.created_at.isoformat()}) were not verified"
    assert body["not_verified"] == window and body["acknowledged_breaks"] == []
    assert _post(api, checkpointed.to_json(), Role.admin).json() == body
    whole = _verify(api)
    assert (whole["start_sequence"], whole["not_verified"]) == (0, "")


def test_a_break_after_the_checkpoint_is_named(api: ApiHarness, checkpointed: Checkpoint) -> None:
    sql(api.services.engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 8")

    body = _post(api, checkpointed.to_json()).json()

    assert body["is_ok"] is False and body["reason"] == "edited"
    assert (body["broken_sequence"], body["events_checked"], body["start_sequence"]) == (8, 1, 6)


def _flip_last_digit(hex_text: str) -> str:
    return hex_text[:-1] + ("1" if hex_text[-1] == "0" else "0")


def _moved_to_event_7(api: ApiHarness, checkpoint: Checkpoint) -> str:
    link_hash = row(api.services.engine, 7)["link_hash"]
    return checkpoint.model_copy(update={"sequence": 7, "link_hash": link_hash}).to_json()


def _unchanged(_api: ApiHarness, checkpoint: Checkpoint) -> str:
    return checkpoint.to_json()


Body = Callable[[ApiHarness, Checkpoint], str]
REFUSALS: dict[str, tuple[str | None, Body, int, str]] = {
    "not-json": (None, lambda _api, _c: "{not json", 422, "JSON decode error"),
    "a-field-missing": (
        None,
        lambda _api, c: c.to_json().replace('"sequence"', '"seq"'),
        422,
        "Field required",
    ),
    "tampered": (None, _moved_to_event_7, 422, "signature does not match"),
    "signature-flipped": (
        None,
        lambda _api, c: c.model_copy(update={"signature_hex": _flip_last_digit(c.signature_hex)}).to_json(),
        422,
        "signature does not match",
    ),
    "signed-by-a-stranger": (
        None,
        lambda _api, c: signed_by_stranger(c).to_json(),
        422,
        "none of the keyring's master keys",
    ),
    "its-event-deleted": ("DELETE FROM audit_event WHERE sequence = 6", _unchanged, 409, "event 6 is gone"),
    "history-rewritten": (
        f"UPDATE audit_event SET link_hash = '{'ab' * 32}' WHERE sequence = 6",
        _unchanged,
        409,
        "event 6 has another link",
    ),
}
"""What the auditor posts (after what an attacker ran on the database, if anything), the status code and
words of the refusal."""


@pytest.mark.parametrize(
    ("attack", "make_body", "status_code", "words"), REFUSALS.values(), ids=list(REFUSALS)
)
def test_a_checkpoint_that_does_not_hold_is_refused_with_a_reason(
    api: ApiHarness,
    checkpointed: Checkpoint,
    attack: str | None,
    make_body: Body,
    status_code: int,
    words: str,
) -> None:
    if attack is not None:
        sql(api.services.engine, attack)

    response = _post(api, make_body(api, checkpointed))

    assert response.status_code == status_code, response.text
    assert words in json.dumps(response.json()["detail"])


def test_devices_may_not_verify_from_a_checkpoint(api: ApiHarness, checkpointed: Checkpoint) -> None:
    assert _post(api, checkpointed.to_json(), Role.device).status_code == 403
    assert api.client.post("/audit/verify", content=checkpointed.to_json()).status_code == 401


def test_a_checkpoint_re_anchored_after_a_break_says_which_break_it_acknowledges(api: ApiHarness) -> None:
    engine, keyring = api.services.engine, api.services.keyring
    append(engine, keyring, range(1, 7))
    sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 3")
    with session_scope(engine) as session:
        checkpoint = reanchor_checkpoint(
            session, keyring, acknowledged=[3], acknowledged_by="alice", note="INC-42", now=datetime.now(UTC)
        )
    append(engine, keyring, range(7, 9))

    body = _post(api, checkpoint.to_json()).json()

    assert body["is_ok"] is True and (body["start_sequence"], body["events_checked"]) == (7, 2)
    assert body["acknowledged_breaks"] == [{"sequence": 3, "reason": "edited"}]
    assert "acknowledging the audit chain's break at 3 (edited)" in body["not_verified"]
    assert _verify(api)["broken_sequence"] == 3  # the whole chain still shows it
