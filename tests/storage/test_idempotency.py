"""Stored answers of idempotency keys: one per caller and key; a second record of a key is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import (
    Engine,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    IdempotentRequest,
    Role,
    StoredResponse,
    create_api_key,
    find_idempotent_response,
    record_idempotent_response,
    session_scope,
)

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _request(engine: Engine, *, body_sha256: str = "a" * 64) -> IdempotentRequest:
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.admin, label="admin", now=NOW)
    return IdempotentRequest(
        key_id=token.split("_")[1], idempotency_key="k", route="POST /people", request_sha256=body_sha256
    )


def test_a_second_answer_for_one_key_is_refused_and_rolled_back(engine: Engine) -> None:
    """Two requests with one key that both found nothing (SQLite holds no key before): the second's answer
    is refused, so its transaction (and its change) rolls back."""
    request, answer = _request(engine), StoredResponse(status_code=201, response_json='{"id": 1}')
    since = NOW - timedelta(hours=1)
    with session_scope(engine) as session:
        record_idempotent_response(session, request, answer, now=NOW)
    with pytest.raises(IdempotencyKeyInFlight), session_scope(engine) as session:
        record_idempotent_response(session, request, answer, now=NOW)
    with session_scope(engine) as session:
        assert find_idempotent_response(session, request, created_since=since) == answer
        other = IdempotentRequest(**{**request.__dict__, "request_sha256": "b" * 64})
        with pytest.raises(IdempotencyKeyReused):
            find_idempotent_response(session, other, created_since=since)
