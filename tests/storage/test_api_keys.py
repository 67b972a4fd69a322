"""API keys in storage: digest only, expiry, revocation, last use to the minute (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from storage import (
    ApiKey,
    AuthFailure,
    Engine,
    InvalidValue,
    NotFound,
    Role,
    Session,
    authenticate,
    create_api_key,
    find_api_key,
    has_api_key,
    list_api_keys,
    revoke_api_key,
    session_scope,
)
from tests.concurrency import held_after

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _create(engine: Engine, **kwargs: object) -> str:
    with session_scope(engine) as session:
        token, _ = create_api_key(session, role=Role.device, label="door 3", now=T0, **kwargs)  # type: ignore[arg-type]
    return token


def _check(engine: Engine, token: str, at: datetime) -> AuthFailure | None:
    with session_scope(engine) as session:
        result = authenticate(session, token, now=at)
    assert (result.key is None) == (result.failure is not None)
    return result.failure


def test_only_a_digest_of_the_secret_is_stored(engine: Engine) -> None:
    token = _create(engine)
    secret = token.split("_", 2)[2]
    with session_scope(engine) as session:
        row = session.exec(select(ApiKey)).one()
    assert secret not in repr(row.model_dump()) and len(row.secret_sha256) == 64
    assert _check(engine, token, T0) is None


@pytest.mark.parametrize(
    ("mangle", "failure"),
    [
        (lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"), AuthFailure.wrong_secret),
        (lambda token: "fg_0123456789abcdef_" + token.split("_", 2)[2], AuthFailure.unknown),
        (lambda token: token.replace("fg_", "xx_", 1), AuthFailure.malformed),
        (lambda token: "fg_", AuthFailure.malformed),
    ],
    ids=["wrong-secret", "unknown-id", "wrong-prefix", "empty"],
)
def test_bad_tokens_say_why(engine: Engine, mangle, failure: AuthFailure) -> None:
    token = _create(engine)
    assert _check(engine, mangle(token), T0) == failure


def test_a_key_expires_at_its_instant(engine: Engine) -> None:
    token = _create(engine, expires_at=T0 + timedelta(hours=1))
    assert _check(engine, token, T0 + timedelta(minutes=59)) is None
    assert _check(engine, token, T0 + timedelta(hours=1)) == AuthFailure.expired


def test_an_expiry_in_the_past_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidValue, match="not in the future"), session_scope(engine) as session:
        create_api_key(session, role=Role.admin, label="late", now=T0, expires_at=T0 - timedelta(seconds=1))


def test_revocation_is_immediate_and_keeps_its_first_time(engine: Engine) -> None:
    token = _create(engine)
    token_id = token.split("_")[1]
    with session_scope(engine) as session:
        first = revoke_api_key(session, token_id, now=T0 + timedelta(seconds=5))
    with session_scope(engine) as session:
        again = revoke_api_key(session, token_id, now=T0 + timedelta(hours=5))
    assert first.revoked_at == again.revoked_at == T0 + timedelta(seconds=5)
    assert _check(engine, token, T0 + timedelta(seconds=6)) == AuthFailure.revoked
    with pytest.raises(NotFound), session_scope(engine) as session:
        revoke_api_key(session, "0000000000000000", now=T0)


def test_last_use_is_recorded_at_most_once_a_minute(engine: Engine) -> None:
    token = _create(engine)

    def last_used() -> datetime | None:
        with session_scope(engine) as session:
            return list_api_keys(session)[0][0].last_used_at

    assert last_used() is None
    assert _check(engine, token, T0 + timedelta(seconds=10)) is None
    assert last_used() == T0 + timedelta(seconds=10)
    assert _check(engine, token, T0 + timedelta(seconds=40)) is None
    assert last_used() == T0 + timedelta(seconds=10)
    assert _check(engine, token, T0 + timedelta(seconds=75)) is None
    assert last_used() == T0 + timedelta(seconds=75)


def test_list_is_paginated_with_a_total_and_shows_every_field(engine: Engine) -> None:
    for _ in range(3):
        _create(engine, expires_at=T0 + timedelta(days=30))
    with session_scope(engine) as session:
        page, total = list_api_keys(session, offset=1, limit=1)
    assert total == 3 and len(page) == 1
    key = page[0]
    assert key.role == Role.device and key.label == "door 3" and key.created_at == T0
    assert key.expires_at == T0 + timedelta(days=30) and key.revoked_at is None and key.last_used_at is None


def test_find_api_key_returns_only_usable_keys(engine: Engine) -> None:
    """A console session re-checks its key with find_api_key: revoked or expired ends it."""
    live, expiring, revoked = (_create(engine, expires_at=T0 + timedelta(hours=h)) for h in (48, 1, 48))
    with session_scope(engine) as session:
        revoke_api_key(session, revoked.split("_")[1], now=T0)
    later = T0 + timedelta(hours=2)
    with session_scope(engine) as session:
        found = {
            token: find_api_key(session, token.split("_")[1], now=later)
            for token in (live, expiring, revoked)
        }
    assert found[live] is not None and found[expiring] is None and found[revoked] is None


def test_has_api_key_counts_only_usable_keys(engine: Engine) -> None:
    """`facegate init` creates an admin key unless has_api_key finds a usable one: an expired key counted,
    so init said an admin key already exists when the only one had expired."""
    with session_scope(engine) as session:
        create_api_key(session, role=Role.admin, label="old", now=T0, expires_at=T0 + timedelta(hours=1))
        revoked, _ = create_api_key(session, role=Role.admin, label="gone", now=T0)
        revoke_api_key(session, revoked.split("_")[1], now=T0)
    with session_scope(engine) as session:
        assert has_api_key(session, role=Role.admin, now=T0 + timedelta(minutes=59))
        assert not has_api_key(session, role=Role.admin, now=T0 + timedelta(hours=1))
        create_api_key(session, role=Role.admin, label="new", now=T0)
    with session_scope(engine) as session:
        assert has_api_key(session, role=Role.admin, now=T0 + timedelta(hours=1))
        assert not has_api_key(session, role=Role.auditor, now=T0)


def test_two_revocations_at_once_keep_the_first_committed_time(engine: Engine) -> None:
    """Two admins revoke one key at once: both are told the time that is stored, the earlier commit's.
    The later one read the key unrevoked before the other committed, and overwrote the stored time."""
    token_id = _create(engine).split("_")[1]
    answers: dict[str, datetime | None] = {}

    def revoke(name: str, at: datetime) -> Callable[[Session], None]:
        def change(session: Session) -> None:
            answers[name] = revoke_api_key(session, token_id, now=at).revoked_at

        return change

    held, other = held_after(
        engine,
        revoke("held", T0 + timedelta(minutes=1)),
        fragment="FROM api_key",
        second=revoke("other", T0 + timedelta(minutes=2)),
        blocked_s=2.0,
    )

    assert held.errors == [] and other.errors == []
    with session_scope(engine) as session:
        (stored,) = [key.revoked_at for key in list_api_keys(session)[0]]
    assert answers == {"held": stored, "other": stored}
