"""Re-anchoring after an investigated break: refused unless the operator names exactly the chain's breaks;
then recorded in the chain, signed in a v2 checkpoint, and never hidden from the walk from the genesis."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, text

from storage import (
    BREAK_ACKNOWLEDGED,
    BreakNotAcknowledged,
    ChainBreak,
    ChainBroken,
    ChainReport,
    Checkpoint,
    CheckpointInvalid,
    CheckpointMismatch,
    Engine,
    Keyring,
    check_acknowledged_breaks,
    check_checkpoint,
    export_checkpoint,
    parse_checkpoint,
    reanchor_checkpoint,
    session_scope,
    verify_chain_since,
)
from tests.storage.audit_helpers import EVENTS, append, renumber_down, row, signed_by_stranger, sql, verify

NOW = datetime(2030, 1, 4, 10, 0, tzinfo=UTC)


def reanchor(engine: Engine, keyring: Keyring, *acknowledged: int) -> Checkpoint:
    with session_scope(engine) as session:
        return reanchor_checkpoint(
            session, keyring, acknowledged=acknowledged, acknowledged_by="alice", note="INC-42", now=NOW
        )


def since(engine: Engine, keyring: Keyring, checkpoint: Checkpoint) -> ChainReport:
    with session_scope(engine) as session:
        return verify_chain_since(session, keyring, checkpoint)


def last_sequence(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT max(sequence) FROM audit_event")).scalar_one())


def edit(engine: Engine, sequence: int) -> None:
    sql(engine, "UPDATE audit_event SET score = 0.01 WHERE sequence = :s", s=sequence)


def test_an_acknowledged_edit_re_anchors_and_stays_visible(chain: Engine, keyring: Keyring) -> None:
    edit(chain, 3)
    with session_scope(chain) as session, pytest.raises(ChainBroken, match="--acknowledge-break 3"):
        export_checkpoint(session, keyring, now=NOW)

    checkpoint = reanchor(chain, keyring, 3)

    event = row(chain, EVENTS + 1)
    assert (event["door"], event["reason"]) == ("audit", BREAK_ACKNOWLEDGED)
    assert event["source"] == "breaks at 3 (edited) acknowledged by alice: INC-42"
    assert (checkpoint.sequence, checkpoint.link_hash) == (EVENTS + 1, event["link_hash"])
    assert checkpoint.format == "facegate-audit-checkpoint/v2"
    assert [(b.sequence, b.reason) for b in checkpoint.acknowledged_breaks] == [(3, ChainBreak.edited)]
    assert "acknowledging the audit chain's break at 3 (edited)" in checkpoint.not_verified()
    whole = verify(chain, keyring)
    assert (whole.reason, whole.broken_sequence) == (ChainBreak.edited, 3)  # never hidden
    assert since(chain, keyring, checkpoint).is_ok

    append(chain, keyring, range(EVENTS + 2, EVENTS + 5))
    report = since(chain, keyring, checkpoint)
    assert report.is_ok and report.events_checked == 3, report.summary()
    edit(chain, EVENTS + 3)  # a new break after the re-anchoring is caught as any other
    report = since(chain, keyring, checkpoint)
    assert (report.reason, report.broken_sequence) == (ChainBreak.edited, EVENTS + 3)


def test_the_recorded_acknowledgement_cannot_be_edited_unseen(chain: Engine, keyring: Keyring) -> None:
    edit(chain, 3)
    checkpoint = reanchor(chain, keyring, 3)
    sql(
        chain,
        "UPDATE audit_event SET source = 'breaks at 3 (edited) acknowledged by bob' WHERE sequence = 11",
    )

    with pytest.raises(
        CheckpointMismatch, match="event 11, which records the acknowledged breaks, was edited"
    ):
        since(chain, keyring, checkpoint)


@contextmanager
def before_first(engine: Engine, fragment: str, act: Callable[[], None]) -> Iterator[None]:
    """While open, `act` runs (on connections of its own) just before the first statement containing
    `fragment` is sent; on exit it must have run."""
    seen: list[str] = []

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if fragment in statement and not seen:
            seen.append(statement)
            act()

    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    assert seen, f"no statement with {fragment!r}"


CLAIM = "UPDATE audit_chain_head SET sequence"
"""The first write of a re-anchoring (append_event's claim of the next sequence), right after the walk."""


def test_a_break_between_the_walk_and_the_write_is_refused_and_writes_nothing(
    chain: Engine, keyring: Keyring
) -> None:
    edit(chain, 3)
    head = row(chain, EVENTS)["link_hash"]

    with (
        before_first(chain, CLAIM, lambda: edit(chain, 8)),
        pytest.raises(ChainBroken, match="broke while re-anchoring, nothing was signed: .*8"),
    ):
        reanchor(chain, keyring, 3)

    assert last_sequence(chain) == EVENTS
    with chain.connect() as connection:
        stored_head = connection.execute(text("SELECT sequence, link_hash FROM audit_chain_head")).one()
    assert tuple(stored_head) == (EVENTS, head)
    with pytest.raises(BreakNotAcknowledged, match="also breaks after sequence 3: at 8 \\(edited"):
        reanchor(chain, keyring, 3)  # the new break is one to investigate and acknowledge as any other


def test_events_appended_between_the_walk_and_the_write_are_no_break(chain: Engine, keyring: Keyring) -> None:
    edit(chain, 3)

    with before_first(chain, CLAIM, lambda: append(chain, keyring, range(EVENTS + 1, EVENTS + 3))):
        checkpoint = reanchor(chain, keyring, 3)

    assert checkpoint.sequence == EVENTS + 3  # after the gate's two events
    assert row(chain, EVENTS + 3)["reason"] == BREAK_ACKNOWLEDGED
    assert since(chain, keyring, checkpoint).is_ok


@pytest.mark.parametrize(
    ("acknowledged", "message"),
    [
        ((4,), "first breaks at sequence 3 \\(edited: .*\\), not at 4"),
        ((2, 3), "first breaks at sequence 3 .*, not at 2"),
        ((3, 8), "does not break at 8; it breaks at 3"),
        ((), "not at none"),
    ],
)
def test_naming_another_break_is_refused_and_appends_nothing(
    chain: Engine, keyring: Keyring, acknowledged: Collection[int], message: str
) -> None:
    edit(chain, 3)
    with pytest.raises(BreakNotAcknowledged, match=message):
        reanchor(chain, keyring, *acknowledged)
    assert last_sequence(chain) == EVENTS


def test_an_intact_chain_has_no_break_to_acknowledge(chain: Engine, keyring: Keyring) -> None:
    with pytest.raises(BreakNotAcknowledged, match="intact: there is no break to acknowledge"):
        reanchor(chain, keyring, 3)


def test_a_later_break_must_be_acknowledged_too(chain: Engine, keyring: Keyring) -> None:
    edit(chain, 3)
    sql(chain, "DELETE FROM audit_event WHERE sequence = 7")

    with pytest.raises(BreakNotAcknowledged, match="also breaks after sequence 3: at 7 \\(deleted: .*3, 7"):
        reanchor(chain, keyring, 3)
    checkpoint = reanchor(chain, keyring, 3, 7)

    assert [str(b) for b in checkpoint.acknowledged_breaks] == ["3 (edited)", "7 (deleted)"]
    assert "3 (edited), 7 (deleted)" in str(row(chain, EVENTS + 1)["source"])
    assert since(chain, keyring, checkpoint).is_ok
    assert verify(chain, keyring).broken_sequence == 3


def _delete_and_renumber(engine: Engine) -> None:
    """Event 4 deleted and the later ones moved down to close the gap, as a careless restore might."""
    sql(engine, "DELETE FROM audit_event WHERE sequence = 4")
    renumber_down(engine, first=5, by=1)
    sql(engine, "UPDATE audit_chain_head SET sequence = :s", s=EVENTS - 1)


def test_every_renumbered_event_is_a_break_to_acknowledge(chain: Engine, keyring: Keyring) -> None:
    _delete_and_renumber(chain)
    assert (verify(chain, keyring).reason, verify(chain, keyring).broken_sequence) == (ChainBreak.inserted, 4)
    with pytest.raises(BreakNotAcknowledged, match="also breaks after sequence 4: at 5 \\(edited"):
        reanchor(chain, keyring, 4)

    checkpoint = reanchor(chain, keyring, *range(4, EVENTS))  # each moved event's link named its old place

    assert [b.sequence for b in checkpoint.acknowledged_breaks] == list(range(4, EVENTS))
    assert checkpoint.acknowledged_breaks[0].reason == ChainBreak.inserted
    assert since(chain, keyring, checkpoint).is_ok and verify(chain, keyring).broken_sequence == 4


def test_events_chained_under_a_key_no_longer_listed_are_breaks_to_acknowledge(
    chain: Engine, keyring: Keyring
) -> None:
    rotated = Keyring([secrets.token_bytes(32)])  # the old master key dropped from the keyring
    append(chain, rotated, range(EVENTS + 1, EVENTS + 3))
    assert verify(chain, rotated).reason == ChainBreak.unknown_key

    checkpoint = reanchor(chain, rotated, *range(1, EVENTS + 1))

    assert {b.reason for b in checkpoint.acknowledged_breaks} == {ChainBreak.unknown_key}
    assert checkpoint.sequence == EVENTS + 3 and since(chain, rotated, checkpoint).is_ok


def test_a_truncated_tail_re_anchors_at_the_same_sequence(chain: Engine, keyring: Keyring) -> None:
    sql(chain, "DELETE FROM audit_event WHERE sequence > 7")
    assert (verify(chain, keyring).reason, verify(chain, keyring).broken_sequence) == (
        ChainBreak.head_mismatch,
        8,
    )

    checkpoint = reanchor(chain, keyring, 8)

    assert checkpoint.sequence == EVENTS + 1  # after the head, where the next event goes
    assert since(chain, keyring, checkpoint).is_ok
    whole = verify(chain, keyring)
    assert (whole.reason, whole.broken_sequence) == (ChainBreak.deleted, 8)


def _drop_head(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_chain_head")


def _move_head_back(engine: Engine) -> None:
    """The head one event back, consistently: the last event lies beyond it, where the next append goes."""
    previous = row(engine, EVENTS - 1)
    sql(
        engine,
        "UPDATE audit_chain_head SET sequence = :s, link_hash = :h",
        s=EVENTS - 1,
        h=previous["link_hash"],
    )


@pytest.mark.parametrize(
    ("attack", "sequence", "words"),
    [(_drop_head, EVENTS, "head is missing"), (_move_head_back, EVENTS, "beyond the chain head")],
    ids=["head-row-deleted", "event-beyond-the-head"],
)
def test_a_break_the_walk_cannot_get_past_is_refused(
    chain: Engine, keyring: Keyring, attack: Callable[[Engine], None], sequence: int, words: str
) -> None:
    attack(chain)
    assert verify(chain, keyring).broken_sequence == sequence
    with pytest.raises(
        ChainBroken, match=f"cannot re-anchor past the audit chain's breaks: {sequence} .*{words}"
    ):
        reanchor(chain, keyring, sequence)
    assert last_sequence(chain) == EVENTS


def test_many_breaks_are_refused_as_no_incident(chain: Engine, keyring: Keyring) -> None:
    append(chain, keyring, range(EVENTS + 1, 31))
    sql(chain, "UPDATE audit_event SET score = 0.01")
    with pytest.raises(ChainBroken, match="breaks more than 20 times"):
        reanchor(chain, keyring, *range(1, 31))


def test_the_v2_checkpoint_round_trips_and_its_breaks_are_signed(chain: Engine, keyring: Keyring) -> None:
    edit(chain, 3)
    checkpoint = reanchor(chain, keyring, 3)
    document = json.loads(checkpoint.to_json())
    assert document["acknowledged_breaks"] == [{"sequence": 3, "reason": "edited"}]
    assert parse_checkpoint(checkpoint.to_json()) == checkpoint

    document["acknowledged_breaks"] = [{"sequence": 4, "reason": "edited"}]
    with session_scope(chain) as session, pytest.raises(CheckpointInvalid, match="signature does not match"):
        check_checkpoint(session, keyring, parse_checkpoint(json.dumps(document)))
    with session_scope(chain) as session, pytest.raises(CheckpointInvalid, match="none of the keyring"):
        check_checkpoint(session, keyring, signed_by_stranger(checkpoint))


def test_a_plain_checkpoint_stays_v1_and_v1_acknowledges_nothing(chain: Engine, keyring: Keyring) -> None:
    with session_scope(chain) as session:
        plain = export_checkpoint(session, keyring, now=NOW)
    document = json.loads(plain.to_json())
    assert document["format"] == "facegate-audit-checkpoint/v1" and "acknowledged_breaks" not in document
    assert plain.not_verified() == (
        f"events up to {EVENTS} (the checkpoint signed {NOW.isoformat()}) were not verified"
    )

    claims = document | {"acknowledged_breaks": [{"sequence": 3, "reason": "edited"}]}
    with pytest.raises(CheckpointInvalid):
        parse_checkpoint(json.dumps(claims))
    with pytest.raises(CheckpointInvalid):
        parse_checkpoint(json.dumps(document | {"format": "facegate-audit-checkpoint/v2"}))


def check(engine: Engine, keyring: Keyring, checkpoint: Checkpoint) -> None:
    with session_scope(engine) as session:
        check_acknowledged_breaks(session, keyring, checkpoint)


def test_the_breaks_a_checkpoint_acknowledges_must_stay_the_only_ones_up_to_it(
    chain: Engine, keyring: Keyring
) -> None:
    """An edit since the re-anchoring before the first acknowledged break, or between two, is seen by no
    other walk: the walk from the genesis stops at the first break, the one from the checkpoint starts
    after it."""
    edit(chain, 3)
    sql(chain, "DELETE FROM audit_event WHERE sequence = 7")
    checkpoint = reanchor(chain, keyring, 3, 7)
    check(chain, keyring, checkpoint)
    append(chain, keyring, range(EVENTS + 2, EVENTS + 4))
    edit(chain, EVENTS + 3)  # after the checkpoint: the walk from it names it, not this check
    check(chain, keyring, checkpoint)

    edit(chain, 5)
    assert verify(chain, keyring).broken_sequence == 3
    assert since(chain, keyring, checkpoint).broken_sequence == EVENTS + 3
    with pytest.raises(
        CheckpointMismatch, match=r"now breaks at 3 \(edited\), 5 \(edited\), 7 \(deleted\), but"
    ):
        check(chain, keyring, checkpoint)


def test_a_break_mended_since_the_re_anchoring_is_a_change_too(chain: Engine, keyring: Keyring) -> None:
    original = row(chain, 3)["score"]
    edit(chain, 3)
    checkpoint = reanchor(chain, keyring, 3)
    sql(chain, "UPDATE audit_event SET score = :s WHERE sequence = 3", s=original)

    with pytest.raises(CheckpointMismatch, match="now breaks nowhere, but the checkpoint was signed ack"):
        check(chain, keyring, checkpoint)


def test_a_break_at_a_value_facegate_never_writes_can_be_acknowledged(
    chain: Engine, keyring: Keyring, database_url: str
) -> None:
    """SQLite: the walk on past an event whose decision cannot be read back starts from its chain columns
    (reading the whole event raised LookupError out of the re-anchoring). PostgreSQL refuses the value."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's enum type refuses a decision FaceGate never writes")
    sql(chain, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 3")

    checkpoint = reanchor(chain, keyring, 3)

    assert [(b.sequence, b.reason) for b in checkpoint.acknowledged_breaks] == [(3, ChainBreak.edited)]
    assert since(chain, keyring, checkpoint).is_ok
    assert (verify(chain, keyring).reason, verify(chain, keyring).broken_sequence) == (ChainBreak.edited, 3)
