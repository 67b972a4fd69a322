"""The audit hash chain on SQLite and PostgreSQL: clean chains verify, and raw-SQL attacks are named."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage import (
    AuditEventPublic,
    ChainBreak,
    ChainBroken,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    append_event,
    ensure_door,
    query_events,
    rename_door,
    session_scope,
    verified_events,
    visit_verified_events,
)
from tests.storage.audit_helpers import EVENTS, GENESIS, T0, append, event, renumber_down, row, sql, verify


def test_a_clean_chain_verifies_and_links_each_event_to_the_previous(chain: Engine, keyring: Keyring) -> None:
    report = verify(chain, keyring)

    assert report.is_ok, report.summary()
    assert (report.events_checked, report.last_sequence) == (EVENTS, EVENTS)
    assert report.reason is None and report.broken_sequence is None
    rows = [row(chain, sequence) for sequence in range(1, EVENTS + 1)]
    assert rows[0]["prev_hash"] == GENESIS
    assert all(later["prev_hash"] == earlier["link_hash"] for earlier, later in pairwise(rows))
    assert report.last_link_hash == rows[-1]["link_hash"]
    assert {r["chain_key_id"] for r in rows} == {keyring.primary_key_id}
    assert f"{EVENTS} events verified" in report.summary()


def test_an_empty_log_verifies(engine: Engine, keyring: Keyring) -> None:
    report = verify(engine, keyring)
    assert report.is_ok and report.events_checked == 0 and report.last_link_hash == GENESIS


def test_verification_reads_in_batches_and_still_finds_a_late_break(chain: Engine, keyring: Keyring) -> None:
    assert verify(chain, keyring, batch_rows=3).is_ok
    sql(chain, "UPDATE audit_event SET reason = 'match' WHERE sequence = 9")
    report = verify(chain, keyring, batch_rows=3)
    assert (report.reason, report.broken_sequence, report.events_checked) == (ChainBreak.edited, 9, 8)


def test_public_events_carry_their_sequence_and_link(chain: Engine) -> None:
    with session_scope(chain) as session:
        events, _ = query_events(session, limit=EVENTS)
    assert [e.sequence for e in events] == list(range(EVENTS, 0, -1))
    assert events[0].link_hash == row(chain, EVENTS)["link_hash"]


def _edit_decision(engine: Engine) -> None:
    sql(engine, "UPDATE audit_event SET decision = 'granted', person_id = 99 WHERE sequence = 5")


def _edit_score(engine: Engine) -> None:
    sql(engine, "UPDATE audit_event SET score = 0.99 WHERE sequence = 4")


def _edit_time(engine: Engine) -> None:
    sql(engine, "UPDATE audit_event SET occurred_at = :t WHERE sequence = 7", t=T0 - timedelta(days=1))


def _delete_middle(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_event WHERE sequence = 5")


def _delete_two_and_renumber(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_event WHERE sequence IN (5, 6)")
    renumber_down(engine, first=7, by=2)


def _forged_copy(engine: Engine, *, sequence: int, prev_sequence: int) -> None:
    """A plausible row: the content of event 2, a real predecessor's link, a MAC under a guessed key."""
    forged = row(engine, 2) | {
        "sequence": sequence,
        "prev_hash": row(engine, prev_sequence)["link_hash"],
        "link_hash": secrets.token_hex(32),
        "decision": "granted",
    }
    forged.pop("id")
    columns = ", ".join(forged)
    sql(
        engine, f"INSERT INTO audit_event ({columns}) VALUES ({', '.join(':' + c for c in forged)})", **forged
    )


def _insert_at_the_end(engine: Engine) -> None:
    _forged_copy(engine, sequence=EVENTS + 1, prev_sequence=EVENTS)


def _insert_in_the_middle(engine: Engine) -> None:
    for sequence in range(EVENTS, 5, -1):  # make room at 6, highest first (sequence is unique)
        sql(
            engine,
            "UPDATE audit_event SET sequence = :new WHERE sequence = :old",
            new=sequence + 1,
            old=sequence,
        )
    _forged_copy(engine, sequence=6, prev_sequence=5)
    sql(engine, "UPDATE audit_chain_head SET sequence = :s", s=EVENTS + 1)


def _swap_sequences(engine: Engine) -> None:
    sql(engine, "UPDATE audit_event SET sequence = -1 WHERE sequence = 3")
    sql(engine, "UPDATE audit_event SET sequence = 3 WHERE sequence = 7")
    sql(engine, "UPDATE audit_event SET sequence = 7 WHERE sequence = -1")


def _swap_contents(engine: Engine) -> None:
    """Rows keep their id and sequence; everything else, MAC included, trades places."""
    first, second = row(engine, 2), row(engine, 3)
    for target, source in ((first, second), (second, first)):
        values = {k: v for k, v in source.items() if k not in ("id", "sequence")}
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        sql(
            engine,
            f"UPDATE audit_event SET {assignments} WHERE id = :target_id",
            target_id=target["id"],
            **values,
        )


def _truncate_tail(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_event WHERE sequence = :s", s=EVENTS)


def _delete_head(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_chain_head")


def _point_head_elsewhere(engine: Engine) -> None:
    sql(engine, "UPDATE audit_chain_head SET link_hash = :h", h=secrets.token_hex(32))


ATTACKS: dict[str, tuple[Callable[[Engine], None], ChainBreak, int]] = {
    "edit-decision-denied-to-granted": (_edit_decision, ChainBreak.edited, 5),
    "edit-score": (_edit_score, ChainBreak.edited, 4),
    "edit-time": (_edit_time, ChainBreak.edited, 7),
    "delete-middle": (_delete_middle, ChainBreak.deleted, 5),
    "delete-and-renumber": (_delete_two_and_renumber, ChainBreak.inserted, 5),
    "insert-at-the-end": (_insert_at_the_end, ChainBreak.inserted, EVENTS + 1),
    "insert-in-the-middle": (_insert_in_the_middle, ChainBreak.inserted, 6),
    "swap-sequence-numbers": (_swap_sequences, ChainBreak.reordered, 3),
    "swap-contents": (_swap_contents, ChainBreak.reordered, 2),
    "truncate-the-tail": (_truncate_tail, ChainBreak.head_mismatch, EVENTS),
    "delete-the-head": (_delete_head, ChainBreak.head_mismatch, EVENTS),
    "replace-the-head-link": (_point_head_elsewhere, ChainBreak.head_mismatch, EVENTS),
}


@pytest.mark.parametrize(("attack", "reason", "sequence"), ATTACKS.values(), ids=list(ATTACKS))
def test_each_attack_is_found_and_the_first_broken_link_is_named(
    chain: Engine, keyring: Keyring, attack: Callable[[Engine], None], reason: ChainBreak, sequence: int
) -> None:
    attack(chain)

    report = verify(chain, keyring)

    assert not report.is_ok
    assert (report.reason, report.broken_sequence) == (reason, sequence), report.summary()
    assert f"broken at sequence {sequence} ({reason})" in report.summary()


def _renumber_the_last_two_past_the_head(engine: Engine) -> None:
    for sequence in (EVENTS, EVENTS - 1):  # highest first (sequence is unique)
        sql(
            engine,
            "UPDATE audit_event SET sequence = :new WHERE sequence = :old",
            new=sequence + 100,
            old=sequence,
        )


def _delete_one_and_renumber_the_last_past_the_head(engine: Engine) -> None:
    sql(engine, "DELETE FROM audit_event WHERE sequence = :s", s=EVENTS - 1)
    sql(engine, "UPDATE audit_event SET sequence = :new WHERE sequence = :old", new=EVENTS + 100, old=EVENTS)


BELOW_THE_HEAD: dict[str, tuple[Callable[[Engine], None], str]] = {
    "renumbered-past-the-head": (
        _renumber_the_last_two_past_the_head,
        f"the head records event {EVENTS} but the log holds none after event {EVENTS - 2} up to it; 2 events "
        f"lie beyond the head from sequence {EVENTS + 99}, which follows event {EVENTS - 2} (renumbered past "
        "the head, not truncated)",
    ),
    "deleted-and-renumbered-past-the-head": (
        _delete_one_and_renumber_the_last_past_the_head,
        f"the head records event {EVENTS} but the log holds none after event {EVENTS - 2} up to it; 1 event "
        f"lies beyond the head from sequence {EVENTS + 100} (renumbered or inserted past the head)",
    ),
    "truncated": (
        _truncate_tail,
        f"the head records event {EVENTS} but the log ends at event {EVENTS - 1} (truncated)",
    ),
}


@pytest.mark.parametrize(("attack", "detail"), BELOW_THE_HEAD.values(), ids=list(BELOW_THE_HEAD))
def test_the_last_events_renumbered_past_the_head_are_not_called_a_truncation(
    chain: Engine, keyring: Keyring, attack: Callable[[Engine], None], detail: str
) -> None:
    """The walk stops at the head, so events renumbered beyond it were reported as a truncated log ('the head
    records event 10 but the log ends at event 8 (truncated)') although no event was deleted: the report
    says where they are and whether the first of them follows the last event verified."""
    attack(chain)

    report = verify(chain, keyring)

    assert (report.reason, report.detail) == (ChainBreak.head_mismatch, detail), report.summary()
    assert report.broken_sequence == 1 + report.last_sequence


UNREADABLE: dict[str, tuple[str, str]] = {
    "decision-no-label": (
        "decision = 'GRANTED'",
        "its decision holds a value FaceGate never writes ('GRANTED' is not among the defined enum values",
    ),
    "time-no-time": (
        "occurred_at = 'garbage'",
        "its occurred_at holds a value FaceGate never writes (Invalid isoformat string: 'garbage')",
    ),
    "time-a-number": ("occurred_at = 20300102", "its occurred_at holds a value FaceGate never writes ("),
}


@pytest.mark.parametrize(("assignment", "detail"), UNREADABLE.values(), ids=list(UNREADABLE))
def test_a_value_facegate_never_writes_is_named_as_an_edit_where_it_was_made(
    chain: Engine, keyring: Keyring, database_url: str, assignment: str, detail: str
) -> None:
    """SQLite keeps any value in any column: one that cannot be read back as an event raised out of the
    verification (LookupError, ValueError, TypeError: a traceback, a 500) instead of naming the row. Found
    in the second batch of three, after event 4 verified alone. PostgreSQL's column types refuse them."""
    statement = f"UPDATE audit_event SET {assignment} WHERE sequence = 5"
    if database_url.startswith("postgresql"):
        with pytest.raises(DBAPIError):  # a type error
            sql(chain, statement)
        assert verify(chain, keyring, batch_rows=3).is_ok
        return
    sql(chain, statement)

    report = verify(chain, keyring, batch_rows=3)

    assert (report.reason, report.broken_sequence, report.events_checked) == (ChainBreak.edited, 5, 4)
    assert report.broken_event_id == row_id(chain, 5)
    assert report.detail.startswith(detail) and report.detail.endswith(": edited outside FaceGate")
    assert report.summary().startswith("audit chain broken at sequence 5 (edited): its ")


MISSTORED_TIMES = {"iso-t": "2030-01-02T08:00:05.123456", "compact": "20300102T080005.123456"}


@pytest.mark.parametrize("stored", MISSTORED_TIMES.values(), ids=list(MISSTORED_TIMES))
def test_a_time_rewritten_as_other_text_for_the_same_instant_is_named_as_an_edit(
    chain: Engine, keyring: Keyring, database_url: str, stored: str
) -> None:
    """Event 5's time, 2030-01-02 08:00:05.123456 UTC, rewritten as other ISO 8601 text for the same instant:
    its HMAC still verified, while on SQLite the time filters compare the stored text, so a window around it
    no longer found it (the chain intact, the event hidden). PostgreSQL stores the instant: nothing hides."""
    sql(chain, "UPDATE audit_event SET occurred_at = :t WHERE sequence = 5", t=stored)
    around = EventFilter(since=T0 + timedelta(seconds=4), until=T0 + timedelta(seconds=6))
    with session_scope(chain) as session:
        found = [e.sequence for e in query_events(session, where=around)[0]]

    report = verify(chain, keyring, batch_rows=3)

    if database_url.startswith("postgresql"):
        assert report.is_ok and found == [5, 4]
        return
    assert found == [4]  # what an auditor's window shows
    assert (report.reason, report.broken_sequence, report.events_checked) == (ChainBreak.edited, 5, 4)
    assert report.detail == (
        f"its occurred_at is stored as {stored!r}, not as FaceGate writes that time "
        "('2030-01-02 08:00:05.123456'): time filters compare the stored text and would miss it; edited "
        "outside FaceGate"
    )


def row_id(engine: Engine, sequence: int) -> int:
    with engine.connect() as connection:
        found = connection.execute(text("SELECT id FROM audit_event WHERE sequence = :s"), {"s": sequence})
        return int(found.scalar_one())


def test_verified_events_are_the_filtered_events_as_the_verification_read_them(
    chain: Engine, keyring: Keyring
) -> None:
    where = EventFilter(
        door="front",
        decision=Decision.granted,
        since=T0 + timedelta(seconds=2),
        until=T0 + timedelta(seconds=8),
    )
    theirs = EventFilter(person_id=4)
    with session_scope(chain) as session:
        found, report = verified_events(session, keyring, where=where)
        expected, _ = query_events(session, where=where, limit=EVENTS)
        found_theirs, _ = verified_events(session, keyring, where=theirs)
        expected_theirs, _ = query_events(session, where=theirs)

    assert report.is_ok and report.events_checked == EVENTS
    assert [e.track_id for e in found] == [2, 4, 6]  # even ones granted; `until` exclusive; oldest first
    assert found == sorted(expected, key=lambda e: e.sequence)
    assert [e.track_id for e in found_theirs] == [4] and found_theirs == expected_theirs
    with session_scope(chain) as session:
        assert verified_events(session, keyring, where=EventFilter(door="back"))[0] == []


def test_verified_events_find_a_renamed_doors_events_under_its_former_name(
    chain: Engine, keyring: Keyring
) -> None:
    """A door's PAD calibration reads its verified events: after a rename they are recorded under the old
    name, and the new name found none of them (`facegate pad calibrate-door` counted 0 events)."""
    front, lobby = (EventFilter(door=name, decision=Decision.granted) for name in ("front", "lobby"))
    with session_scope(chain) as session:
        before, _ = verified_events(session, keyring, where=front)
        door = ensure_door(session, name="front")
        rename_door(session, door.id, name="lobby", now=T0 + timedelta(days=1))
    with session_scope(chain) as session:
        after, report = verified_events(session, keyring, where=lobby)
        by_old_name, _ = verified_events(session, keyring, where=front)

    assert report.is_ok and len(before) == EVENTS // 2
    assert after == by_old_name == before


def test_visiting_verified_events_streams_what_verified_events_returns(
    chain: Engine, keyring: Keyring
) -> None:
    seen: list[AuditEventPublic] = []
    with session_scope(chain) as session:
        where = EventFilter(door="front", decision=Decision.granted)
        report = visit_verified_events(session, keyring, seen.append, where=where)
        found, listed = verified_events(session, keyring, where=where)

    assert report.is_ok and report == listed
    assert seen == found and [e.track_id for e in seen] == list(range(2, EVENTS + 1, 2))


def test_a_visitor_sees_the_events_before_a_break_and_the_report_voids_them(
    chain: Engine, keyring: Keyring
) -> None:
    _edit_score(chain)
    seen: list[AuditEventPublic] = []
    with session_scope(chain) as session:
        report = visit_verified_events(session, keyring, seen.append)
    assert (report.reason, report.broken_sequence) == (ChainBreak.edited, 4)
    assert [e.sequence for e in seen] == [1, 2, 3]


@pytest.mark.parametrize(("attack", "reason", "sequence"), ATTACKS.values(), ids=list(ATTACKS))
def test_verified_events_report_each_attack_and_hold_only_what_verified_before_it(
    chain: Engine, keyring: Keyring, attack: Callable[[Engine], None], reason: ChainBreak, sequence: int
) -> None:
    attack(chain)

    with session_scope(chain) as session:
        found, report = verified_events(session, keyring)

    assert (report.reason, report.broken_sequence) == (reason, sequence), report.summary()
    assert [e.sequence for e in found] == list(range(1, report.last_sequence + 1))


def test_the_broken_event_is_named_by_its_row_id(chain: Engine, keyring: Keyring) -> None:
    edited_id = row(chain, 4)["id"]
    _edit_score(chain)
    assert verify(chain, keyring).broken_event_id == edited_id


def test_a_wrong_master_key_is_reported_as_an_unknown_key(chain: Engine, keyring: Keyring) -> None:
    report = verify(chain, Keyring([secrets.token_bytes(32)]))

    assert (report.reason, report.broken_sequence, report.events_checked) == (ChainBreak.unknown_key, 1, 0)
    assert keyring.primary_key_id in report.detail and "not in the keyring" in report.detail


def test_events_from_before_a_key_rotation_verify_while_the_old_key_is_listed(engine: Engine) -> None:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    before, after = Keyring([old_key]), Keyring([new_key, old_key])
    append(engine, before, range(1, 4))
    append(engine, after, range(4, 7))

    assert verify(engine, after).is_ok
    assert row(engine, 1)["chain_key_id"] == before.primary_key_id
    assert row(engine, 4)["chain_key_id"] == after.primary_key_id != before.primary_key_id
    without_old = verify(engine, Keyring([new_key]))
    assert (without_old.reason, without_old.broken_sequence) == (ChainBreak.unknown_key, 1)


def test_appending_refuses_to_restart_a_chain_whose_head_was_deleted(chain: Engine, keyring: Keyring) -> None:
    _delete_head(chain)
    with pytest.raises(ChainBroken, match="head is missing"):
        append(chain, keyring, range(EVENTS + 1, EVENTS + 2))


def test_an_appended_event_is_rolled_back_with_its_transaction(chain: Engine, keyring: Keyring) -> None:
    with pytest.raises(RuntimeError), session_scope(chain) as session:
        append_event(session, keyring, event(99))
        raise RuntimeError("the caller failed before commit")

    append(chain, keyring, range(EVENTS + 1, EVENTS + 2))
    report = verify(chain, keyring)
    assert report.is_ok and report.last_sequence == EVENTS + 1


@pytest.mark.slow
# At load 8-10 a run takes 7-18 s, and a 5 s busy timeout (pysqlite's, the default before 30 s) failed a
# writer kept out by the others ("database is locked") in 13 of 13 runs, the chain intact: outwait it.
@pytest.mark.parametrize("sqlite_busy_timeout_s", [120.0])
def test_concurrent_writers_build_one_chain_without_lost_or_duplicated_events(
    engine: Engine, keyring: Keyring
) -> None:
    writers, per_writer = 4, 25
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        start.wait()
        try:
            for index in range(per_writer):
                with session_scope(engine) as session:
                    append_event(session, keyring, event(index, source=f"writer-{writer}-{index}"))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT sequence, source FROM audit_event ORDER BY sequence")).all()
    assert [sequence for sequence, _ in rows] == list(range(1, writers * per_writer + 1))
    expected = {f"writer-{w}-{i}" for w in range(writers) for i in range(per_writer)}
    assert sorted(source for _, source in rows) == sorted(expected)
    report = verify(engine, keyring)
    assert report.is_ok and report.events_checked == writers * per_writer, report.summary()
