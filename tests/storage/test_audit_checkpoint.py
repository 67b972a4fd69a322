"""Signed checkpoints: a round trip holds; rewritten history and tampered checkpoints are refused."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import (
    AuditEventPublic,
    ChainBreak,
    ChainBroken,
    ChainReport,
    Checkpoint,
    CheckpointInvalid,
    CheckpointMismatch,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    check_checkpoint,
    checkpoint_public_key,
    create_schema,
    export_checkpoint,
    make_engine,
    parse_checkpoint,
    session_scope,
    verified_events,
    verify_chain,
    verify_chain_since,
)
from tests.storage.audit_helpers import (
    EVENTS,
    GENESIS,
    append,
    renumber_down,
    row,
    signed_by_stranger,
    sql,
    verify,
)

NOW = datetime(2030, 1, 3, 9, 30, tzinfo=UTC)


def export(engine: Engine, keyring: Keyring) -> Checkpoint:
    with session_scope(engine) as session:
        return export_checkpoint(session, keyring, now=NOW)


def check(
    engine: Engine, keyring: Keyring, checkpoint: Checkpoint, *, expected_public_key_hex: str | None = None
) -> None:
    with session_scope(engine) as session:
        check_checkpoint(session, keyring, checkpoint, expected_public_key_hex=expected_public_key_hex)


def test_export_then_check_round_trips_through_json(chain: Engine, keyring: Keyring) -> None:
    checkpoint = export(chain, keyring)
    document = json.loads(checkpoint.to_json())

    assert (checkpoint.sequence, checkpoint.link_hash) == (EVENTS, row(chain, EVENTS)["link_hash"])
    assert checkpoint.public_key_hex == checkpoint_public_key(keyring)
    assert document["format"] == "facegate-audit-checkpoint/v1"
    assert datetime.fromisoformat(document["created_at"]) == NOW
    parsed = parse_checkpoint(checkpoint.to_json())
    assert parsed == checkpoint
    check(chain, keyring, parsed, expected_public_key_hex=checkpoint_public_key(keyring))


def test_the_signing_key_is_derived_from_the_master_key(keyring: Keyring) -> None:
    assert checkpoint_public_key(keyring) == checkpoint_public_key(keyring)
    assert checkpoint_public_key(keyring) != checkpoint_public_key(Keyring([secrets.token_bytes(32)]))


def test_a_checkpoint_still_holds_after_later_appends(chain: Engine, keyring: Keyring) -> None:
    checkpoint = export(chain, keyring)
    append(chain, keyring, range(EVENTS + 1, EVENTS + 5))
    check(chain, keyring, checkpoint)
    assert export(chain, keyring).sequence == EVENTS + 4


def test_an_empty_log_gets_a_genesis_checkpoint(engine: Engine, keyring: Keyring) -> None:
    checkpoint = export(engine, keyring)
    assert (checkpoint.sequence, checkpoint.link_hash) == (0, GENESIS)
    check(engine, keyring, checkpoint)


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
        check(chain, keyring, checkpoint)


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
        check(chain, keyring, checkpoint)


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
    ]
    for forged in forgeries:
        with pytest.raises(CheckpointInvalid, match="signature does not match"):
            check(chain, keyring, forged)
    resigned = _tampered(checkpoint, public_key_hex=checkpoint_public_key(other))
    with pytest.raises(CheckpointInvalid, match="none of the keyring's master keys"):
        check(chain, keyring, resigned)
    with pytest.raises(CheckpointInvalid, match="signature does not match"):
        check(chain, keyring, resigned, expected_public_key_hex=resigned.public_key_hex)


def test_a_checkpoint_signed_by_another_key_is_refused_when_the_signer_is_pinned(
    chain: Engine, keyring: Keyring
) -> None:
    other = Keyring([secrets.token_bytes(32)])
    checkpoint = export(chain, keyring)
    with pytest.raises(CheckpointInvalid, match="not the expected"):
        check(chain, keyring, checkpoint, expected_public_key_hex=checkpoint_public_key(other))


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


# Verifying from a checkpoint on (`verify_chain_since`, `verified_events(checkpoint=...)`): what
# `facegate audit verify --since-checkpoint` and `pad calibrate-door --since-checkpoint` read.

CUT = 6
"""The checkpoint covers events 1..CUT; events CUT+1..EVENTS come after it."""


@pytest.fixture
def checkpointed(engine: Engine, keyring: Keyring) -> tuple[Engine, Checkpoint]:
    """EVENTS events with a checkpoint signed after event CUT, while the chain was intact."""
    append(engine, keyring, range(1, CUT + 1))
    checkpoint = export(engine, keyring)
    append(engine, keyring, range(CUT + 1, EVENTS + 1))
    return engine, checkpoint


def since(
    engine: Engine, keyring: Keyring, checkpoint: Checkpoint, where: EventFilter | None = None
) -> tuple[list[AuditEventPublic], ChainReport]:
    with session_scope(engine) as session:
        return verified_events(session, keyring, where=where or EventFilter(), checkpoint=checkpoint)


def test_from_a_checkpoint_only_the_events_after_it_are_verified_and_returned(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring
) -> None:
    engine, checkpoint = checkpointed
    found, report = since(engine, keyring, checkpoint)

    assert checkpoint.sequence == CUT
    assert report.is_ok, report.summary()
    assert (report.start_sequence, report.events_checked, report.last_sequence) == (CUT, EVENTS - CUT, EVENTS)
    assert [e.sequence for e in found] == list(range(CUT + 1, EVENTS + 1))
    assert f"intact after checkpointed event {CUT}: {EVENTS - CUT} events verified" in report.summary()
    granted, _ = since(engine, keyring, checkpoint, EventFilter(decision=Decision.granted))
    assert [e.track_id for e in granted] == [8, 10]
    with session_scope(engine) as session:
        assert verify_chain(session, keyring).start_sequence == 0


def test_a_genesis_checkpoint_verifies_the_whole_chain(engine: Engine, keyring: Keyring) -> None:
    checkpoint = export(engine, keyring)
    append(engine, keyring, range(1, EVENTS + 1))

    found, report = since(engine, keyring, checkpoint)
    assert report.is_ok and report.start_sequence == 0 and len(found) == EVENTS == report.events_checked


def _edit(sequence: int) -> Callable[[Engine], None]:
    return lambda engine: sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = :s", s=sequence)


def _delete(*sequences: int) -> Callable[[Engine], None]:
    def attack(engine: Engine) -> None:
        for sequence in sequences:
            sql(engine, "DELETE FROM audit_event WHERE sequence = :s", s=sequence)

    return attack


BEFORE: dict[str, Callable[[Engine], None]] = {
    "edit-early-event": _edit(3),
    "delete-first-event": _delete(1),
    "edit-the-checkpointed-event-content": _edit(CUT),  # its link, which the checkpoint signed, stays
}


@pytest.mark.parametrize("attack", BEFORE.values(), ids=list(BEFORE))
def test_a_break_up_to_the_checkpoint_no_longer_shows(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring, attack: Callable[[Engine], None]
) -> None:
    engine, checkpoint = checkpointed
    attack(engine)

    assert not verify(engine, keyring).is_ok  # the whole walk still names it
    found, report = since(engine, keyring, checkpoint)
    assert report.is_ok, report.summary()
    assert [e.sequence for e in found] == list(range(CUT + 1, EVENTS + 1))


def _delete_right_after_and_renumber(engine: Engine) -> None:
    """The events right after the checkpoint deleted, the later ones moved down to close the gap."""
    _delete(CUT + 1, CUT + 2)(engine)
    renumber_down(engine, first=CUT + 3, by=2)
    sql(engine, "UPDATE audit_chain_head SET sequence = :s", s=EVENTS - 2)


AFTER: dict[str, tuple[Callable[[Engine], None], ChainBreak, int]] = {
    "edit-after": (_edit(CUT + 2), ChainBreak.edited, CUT + 2),
    "delete-right-after": (_delete(CUT + 1), ChainBreak.deleted, CUT + 1),
    "delete-two-right-after": (_delete(CUT + 1, CUT + 2), ChainBreak.deleted, CUT + 1),
    "delete-right-after-and-renumber": (_delete_right_after_and_renumber, ChainBreak.inserted, CUT + 1),
    "truncate-the-tail": (_delete(EVENTS), ChainBreak.head_mismatch, EVENTS),
}


@pytest.mark.parametrize("batch_rows", [1000, 2])
@pytest.mark.parametrize(("attack", "reason", "sequence"), AFTER.values(), ids=list(AFTER))
def test_a_break_after_the_checkpoint_is_named_as_the_whole_walk_names_it(
    checkpointed: tuple[Engine, Checkpoint],
    keyring: Keyring,
    attack: Callable[[Engine], None],
    reason: ChainBreak,
    sequence: int,
    batch_rows: int,
) -> None:
    engine, checkpoint = checkpointed
    attack(engine)
    _edit(2)(engine)  # a break before the checkpoint as well, which the walk from it does not see

    with session_scope(engine) as session:
        report = verify_chain_since(session, keyring, checkpoint, batch_rows=batch_rows)
    found, _ = since(engine, keyring, checkpoint)

    assert (report.reason, report.broken_sequence, report.start_sequence) == (reason, sequence, CUT)
    assert f"verified after checkpointed event {CUT} before it" in report.summary()
    assert [e.sequence for e in found] == list(range(CUT + 1, report.last_sequence + 1))


def test_a_forged_checkpoint_is_refused(checkpointed: tuple[Engine, Checkpoint], keyring: Keyring) -> None:
    engine, checkpoint = checkpointed
    later = row(engine, EVENTS - 1)
    moved = _tampered(checkpoint, sequence=EVENTS - 1, link_hash=later["link_hash"])
    with pytest.raises(CheckpointInvalid, match="signature does not match"):
        since(engine, keyring, moved)


def test_a_checkpoint_signed_by_another_key_is_refused_though_its_signature_holds(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring
) -> None:
    """The writer of the database edits event 8, then signs a checkpoint of event 9 (its link is in the
    log) with a key of their own, to make the walk start after the edit."""
    engine, checkpoint = checkpointed
    _edit(CUT + 2)(engine)
    moved = _tampered(checkpoint, sequence=CUT + 3, link_hash=str(row(engine, CUT + 3)["link_hash"]))
    forged = signed_by_stranger(moved)

    with pytest.raises(CheckpointInvalid, match="none of the keyring's master keys"):
        since(engine, keyring, forged)
    with pytest.raises(CheckpointInvalid, match="none of the keyring's master keys"):
        check(engine, keyring, forged)
    # A valid signature over a link the log holds: only pinning that very signer lets it through.
    check(engine, keyring, forged, expected_public_key_hex=forged.public_key_hex)


def test_a_checkpoint_whose_link_is_not_the_events_at_its_sequence_is_refused(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring
) -> None:
    engine, checkpoint = checkpointed
    sql(engine, "UPDATE audit_event SET link_hash = :h WHERE sequence = :s", h=secrets.token_hex(32), s=CUT)
    with pytest.raises(CheckpointMismatch, match=f"event {CUT} has another link"):
        since(engine, keyring, checkpoint)


def test_a_checkpoint_of_another_database_under_the_same_master_key_is_refused(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring, tmp_path: Path
) -> None:
    """A staging copy run with the production key signs genuine checkpoints of another history."""
    engine, _ = checkpointed
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    create_schema(other)
    append(other, keyring, range(100, 100 + CUT))
    theirs = export(other, keyring)
    other.dispose()
    with pytest.raises(CheckpointMismatch, match=f"event {CUT} has another link"):
        since(engine, keyring, theirs)


def test_the_checkpointed_event_deleted_is_refused(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring
) -> None:
    engine, checkpoint = checkpointed
    _delete(CUT)(engine)
    with pytest.raises(CheckpointMismatch, match=f"event {CUT} is gone"):
        since(engine, keyring, checkpoint)


def test_a_checkpoint_later_than_the_last_event_is_refused(engine: Engine, keyring: Keyring) -> None:
    """The log was cut back below the checkpoint with a consistent head (the whole walk passes), or the
    checkpoint is of a longer log: either way it covers an event the log does not hold."""
    append(engine, keyring, range(1, EVENTS + 1))
    checkpoint = export(engine, keyring)
    _delete(*range(CUT + 1, EVENTS + 1))(engine)
    sql(
        engine,
        "UPDATE audit_chain_head SET sequence = :s, link_hash = :h",
        s=CUT,
        h=row(engine, CUT)["link_hash"],
    )
    assert verify(engine, keyring).is_ok

    with pytest.raises(CheckpointMismatch, match=f"event {EVENTS} is gone \\(the log ends at event {CUT}\\)"):
        since(engine, keyring, checkpoint)


def test_a_head_moved_back_below_the_checkpoint_is_a_break(engine: Engine, keyring: Keyring) -> None:
    append(engine, keyring, range(1, EVENTS + 1))
    checkpoint = export(engine, keyring)
    sql(
        engine,
        "UPDATE audit_chain_head SET sequence = :s, link_hash = :h",
        s=CUT,
        h=row(engine, CUT)["link_hash"],
    )

    found, report = since(engine, keyring, checkpoint)
    assert (report.reason, report.broken_sequence, found) == (ChainBreak.head_mismatch, CUT, [])
    assert f"before event {EVENTS} the walk started after" in report.detail


def test_deleting_everything_after_the_checkpoint_with_a_consistent_head_shows_only_in_a_later_checkpoint(
    checkpointed: tuple[Engine, Checkpoint], keyring: Keyring
) -> None:
    """As for the whole walk, a cut tail whose head was moved back with it leaves nothing to check: the walk
    from the checkpoint vouches for no event (so nothing is calibrated from it), and only a later
    checkpoint names the cut."""
    engine, checkpoint = checkpointed
    later = export(engine, keyring)
    _delete(*range(CUT + 1, EVENTS + 1))(engine)
    sql(engine, "UPDATE audit_chain_head SET sequence = :s, link_hash = :h", s=CUT, h=checkpoint.link_hash)

    found, report = since(engine, keyring, checkpoint)
    assert report.is_ok and report.events_checked == 0 and found == []
    with pytest.raises(CheckpointMismatch, match=f"event {EVENTS} is gone"):
        since(engine, keyring, later)


def test_a_checkpoint_signed_before_a_key_rotation_holds_while_the_old_key_is_listed(engine: Engine) -> None:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    before, after = Keyring([old_key]), Keyring([new_key, old_key])
    append(engine, before, range(1, CUT + 1))
    checkpoint = export(engine, before)
    append(engine, after, range(CUT + 1, EVENTS + 1))

    found, report = since(engine, after, checkpoint)
    assert report.is_ok and len(found) == EVENTS - CUT
    assert checkpoint.public_key_hex == checkpoint_public_key(after, key_id=before.primary_key_id)
    with pytest.raises(CheckpointInvalid, match="none of the keyring's master keys"):
        since(engine, Keyring([new_key]), checkpoint)
