"""Signed checkpoints: a round trip holds; rewritten history and tampered checkpoints are refused."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest

from storage import (
    ChainBroken,
    Checkpoint,
    CheckpointInvalid,
    CheckpointMismatch,
    Engine,
    Keyring,
    check_checkpoint,
    checkpoint_public_key,
    export_checkpoint,
    parse_checkpoint,
    session_scope,
)
from tests.storage.audit_helpers import EVENTS, GENESIS, append, row, sql, verify

NOW = datetime(2030, 1, 3, 9, 30, tzinfo=UTC)


def export(engine: Engine, keyring: Keyring) -> Checkpoint:
    with session_scope(engine) as session:
        return export_checkpoint(session, keyring, now=NOW)


def check(engine: Engine, checkpoint: Checkpoint, *, expected_public_key_hex: str | None = None) -> None:
    with session_scope(engine) as session:
        check_checkpoint(session, checkpoint, expected_public_key_hex=expected_public_key_hex)


def test_export_then_check_round_trips_through_json(chain: Engine, keyring: Keyring) -> None:
    checkpoint = export(chain, keyring)
    document = json.loads(checkpoint.to_json())

    assert (checkpoint.sequence, checkpoint.link_hash) == (EVENTS, row(chain, EVENTS)["link_hash"])
    assert checkpoint.public_key_hex == checkpoint_public_key(keyring)
    assert document["format"] == "facegate-audit-checkpoint/v1"
    assert datetime.fromisoformat(document["created_at"]) == NOW
    parsed = parse_checkpoint(checkpoint.to_json())
    assert parsed == checkpoint
    check(chain, parsed, expected_public_key_hex=checkpoint_public_key(keyring))


def test_the_signing_key_is_derived_from_the_master_key(keyring: Keyring) -> None:
    assert checkpoint_public_key(keyring) == checkpoint_public_key(keyring)
    assert checkpoint_public_key(keyring) != checkpoint_public_key(Keyring([secrets.token_bytes(32)]))


def test_a_checkpoint_still_holds_after_later_appends(chain: Engine, keyring: Keyring) -> None:
    checkpoint = export(chain, keyring)
    append(chain, keyring, range(EVENTS + 1, EVENTS + 5))
    check(chain, checkpoint)
    assert export(chain, keyring).sequence == EVENTS + 4


def test_an_empty_log_gets_a_genesis_checkpoint(engine: Engine, keyring: Keyring) -> None:
    checkpoint = export(engine, keyring)
    assert (checkpoint.sequence, checkpoint.link_hash) == (0, GENESIS)
    check(engine, checkpoint)


def test_export_refuses_to_sign_a_broken_chain(chain: Engine, keyring: Keyring) -> None:
    sql(chain, "UPDATE audit_event SET score = 0.01 WHERE sequence = 3")
    with pytest.raises(ChainBroken, match="broken at sequence 3"):
        export(chain, keyring)


def test_a_rewrite_by_someone_holding_the_master_key_verifies_but_fails_the_checkpoint(
    chain: Engine, keyring: Keyring
) -> None:
    checkpoint = export(chain, keyring)
    # The insider empties the log and writes a new history through FaceGate itself: every HMAC is valid.
    sql(chain, "DELETE FROM audit_event")
    sql(chain, "DELETE FROM audit_chain_head")
    append(chain, keyring, range(100, 100 + EVENTS))
    assert verify(chain, keyring).is_ok

    with pytest.raises(CheckpointMismatch, match=f"event {EVENTS} has another link"):
        check(chain, checkpoint)


def test_a_truncation_with_a_consistent_head_verifies_but_fails_the_checkpoint(
    chain: Engine, keyring: Keyring
) -> None:
    checkpoint = export(chain, keyring)
    last_kept = row(chain, EVENTS - 3)
    sql(chain, "DELETE FROM audit_event WHERE sequence > :s", s=EVENTS - 3)
    sql(
        chain,
        "UPDATE audit_chain_head SET sequence = :s, link_hash = :h",
        s=EVENTS - 3,
        h=last_kept["link_hash"],
    )
    assert verify(chain, keyring).is_ok

    with pytest.raises(CheckpointMismatch, match=f"event {EVENTS} is gone"):
        check(chain, checkpoint)


def _tampered(checkpoint: Checkpoint, **changes: object) -> Checkpoint:
    document = json.loads(checkpoint.to_json()) | changes
    return parse_checkpoint(json.dumps(document))


def _flip_last_digit(hex_text: str) -> str:
    return hex_text[:-1] + ("1" if hex_text[-1] == "0" else "0")


def test_a_tampered_checkpoint_fails_its_signature(chain: Engine, keyring: Keyring) -> None:
    checkpoint = export(chain, keyring)
    other = Keyring([secrets.token_bytes(32)])
    forgeries = [
        _tampered(checkpoint, link_hash=row(chain, EVENTS - 1)["link_hash"], sequence=EVENTS - 1),
        _tampered(checkpoint, created_at="2031-01-01T00:00:00Z"),
        _tampered(checkpoint, signature_hex=_flip_last_digit(checkpoint.signature_hex)),
        _tampered(checkpoint, public_key_hex=checkpoint_public_key(other)),
    ]
    for forged in forgeries:
        with pytest.raises(CheckpointInvalid, match="signature does not match"):
            check(chain, forged)


def test_a_checkpoint_signed_by_another_key_is_refused_when_the_signer_is_pinned(
    chain: Engine, keyring: Keyring
) -> None:
    other = Keyring([secrets.token_bytes(32)])
    checkpoint = export(chain, keyring)
    with pytest.raises(CheckpointInvalid, match="not the expected"):
        check(chain, checkpoint, expected_public_key_hex=checkpoint_public_key(other))


@pytest.mark.parametrize(
    "document",
    ["", "not json", "{}", '{"format": "facegate-audit-checkpoint/v1", "sequence": -1}', "[1, 2]"],
    ids=["empty", "not-json", "no-fields", "negative-sequence", "a-list"],
)
def test_what_is_not_a_checkpoint_is_refused(document: str) -> None:
    with pytest.raises(CheckpointInvalid, match="not a FaceGate audit checkpoint"):
        parse_checkpoint(document)


def test_checkpoint_json_rejects_unknown_fields(chain: Engine, keyring: Keyring) -> None:
    document = json.loads(export(chain, keyring).to_json()) | {"note": "added later"}
    with pytest.raises(CheckpointInvalid):
        parse_checkpoint(json.dumps(document))
