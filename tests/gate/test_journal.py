"""EventJournal and JournalDeliverer: durable order, torn lines, compaction, exactly-once delivery."""

from __future__ import annotations

import itertools
import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from gate import (
    EventJournal,
    JournalCorrupt,
    JournalDeliverer,
    JournalLocked,
    database_sink,
    default_journal_dir,
)
from gate.journal import JOURNAL_FILE, POSITION_FILE
from storage import append_event, session_scope
from tests.gate.journal_support import StepClock, chain_holds, sample_event, stored_events


def _journal(directory: Path) -> EventJournal:
    return EventJournal(directory, utc_now=StepClock())


def _deliverer(journal: EventJournal, engine, keyring, *, batch_events: int = 100) -> JournalDeliverer:
    return JournalDeliverer(
        journal,
        sink=database_sink(engine, keyring),
        retry_initial_s=0.05,
        retry_max_s=0.2,
        monotonic=time.monotonic,
        batch_events=batch_events,
    )


def test_entries_survive_a_reopen_in_order_with_their_decision_time(tmp_path: Path) -> None:
    directory = tmp_path / "journal" / "front"
    with _journal(directory) as journal:
        written = [journal.append(sample_event(track_id)) for track_id in range(5)]

    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / JOURNAL_FILE).stat().st_mode) == 0o600
    with _journal(directory) as reopened:
        assert reopened.pending(100) == written
    assert [e.event.track_id for e in written] == [0, 1, 2, 3, 4]
    assert all(e.event.event_uid == e.uid and len(e.uid) == 36 for e in written)
    times = [e.event.occurred_at for e in written]
    assert times == sorted(times) and len(set(times)) == 5
    assert all(t is not None and t.utcoffset() is not None for t in times)


def test_a_new_journal_is_owner_only_up_to_the_data_directory_under_a_permissive_umask(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    directory = default_journal_dir(home, "front door")
    former = os.umask(0o022)
    try:
        with _journal(directory) as journal:
            journal.mark_delivered([journal.append(sample_event(1))])
            journal.append(sample_event(2))
    finally:
        os.umask(former)

    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in home.rglob("*")}
    assert modes == {
        "home/journal": 0o700,
        "home/journal/front_door": 0o700,
        "home/journal/front_door/lock": 0o600,
        f"home/journal/front_door/{JOURNAL_FILE}": 0o600,
        f"home/journal/front_door/{POSITION_FILE}": 0o600,
    }
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_a_torn_last_line_is_dropped_and_every_earlier_entry_kept(tmp_path: Path) -> None:
    with _journal(tmp_path) as journal:
        written = [journal.append(sample_event(track_id)) for track_id in range(3)]
    path = tmp_path / JOURNAL_FILE
    complete = path.read_bytes()
    torn_line = complete.splitlines()[0][:40]  # the start of a line, as a crash mid-write() leaves it
    with path.open("ab") as file:
        file.write(torn_line)

    with _journal(tmp_path) as journal:
        assert journal.pending(100) == written
        assert path.read_bytes() == complete  # the tail is cut, so the next line starts cleanly
        fourth = journal.append(sample_event(3))
    with _journal(tmp_path) as journal:
        assert journal.pending(100) == [*written, fourth]


def test_a_damaged_complete_line_is_refused_not_skipped(tmp_path: Path) -> None:
    with _journal(tmp_path) as journal:
        for track_id in range(3):
            journal.append(sample_event(track_id))
    path = tmp_path / JOURNAL_FILE
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"uid": 1}\n' + lines[2])

    with pytest.raises(JournalCorrupt, match="line 2"):
        _journal(tmp_path)


def test_a_second_writer_cannot_open_the_same_journal(tmp_path: Path) -> None:
    with _journal(tmp_path), pytest.raises(JournalLocked):
        _journal(tmp_path)
    _journal(tmp_path).close()  # released on close


def test_the_delivery_position_survives_a_reopen(tmp_path: Path) -> None:
    with _journal(tmp_path) as journal:
        written = [journal.append(sample_event(track_id)) for track_id in range(3)]
        journal.mark_delivered(journal.pending(2))
        assert journal.pending_count == 1
    position = json.loads((tmp_path / POSITION_FILE).read_bytes())
    assert position == {"last_uid": written[1].uid}
    assert not (tmp_path / (POSITION_FILE + ".tmp")).exists()
    with _journal(tmp_path) as journal:
        assert journal.pending(100) == written[2:]


def test_delivery_keeps_order_and_decision_times_then_empties_the_file(
    tmp_path: Path, engine, keyring
) -> None:
    with _journal(tmp_path) as journal:
        written = [journal.append(sample_event(track_id)) for track_id in range(7)]
        deliverer = _deliverer(journal, engine, keyring, batch_events=3)  # three transactions
        assert deliverer.deliver_pending() == 7
        assert journal.pending_count == 0
    stored = stored_events(engine)
    assert [s.event_uid for s in stored] == [e.uid for e in written]
    assert [s.occurred_at for s in stored] == [e.event.occurred_at for e in written]
    assert [s.sequence for s in stored] == list(range(1, 8))
    assert chain_holds(engine, keyring)
    assert (tmp_path / JOURNAL_FILE).stat().st_size == 0  # compacted once everything was delivered
    with _journal(tmp_path) as journal:
        assert journal.pending_count == 0


def test_entries_already_in_the_database_are_skipped_exactly_once(tmp_path: Path, engine, keyring) -> None:
    """A crash after the commit and before the position update: the redelivery finds the uids."""
    with _journal(tmp_path) as journal:
        written = [journal.append(sample_event(track_id)) for track_id in range(4)]
        with session_scope(engine) as session:
            for entry in written[:2]:
                append_event(session, keyring, entry.event)

        deliverer = _deliverer(journal, engine, keyring)
        assert deliverer.deliver_pending() == 2
        assert (deliverer.inserted_count, deliverer.skipped_count) == (2, 2)
        assert deliverer.deliver_pending() == 0  # nothing pending, nothing written twice
    assert [s.event_uid for s in stored_events(engine)] == [e.uid for e in written]
    assert chain_holds(engine, keyring)


def test_the_thread_delivers_the_backlog_at_start_and_new_records_after(
    tmp_path: Path, engine, keyring
) -> None:
    with _journal(tmp_path) as journal:
        backlog = [journal.append(sample_event(track_id)) for track_id in range(3)]
    with _journal(tmp_path) as journal:
        deliverer = _deliverer(journal, engine, keyring)
        deliverer.start()
        try:
            assert deliverer.wait_delivered(timeout_s=10.0)
            deliverer.record(sample_event(3))
            assert deliverer.wait_delivered(timeout_s=10.0)
        finally:
            deliverer.stop(drain_timeout_s=10.0)
            deliverer.stop(drain_timeout_s=10.0)  # safe twice
    stored = stored_events(engine)
    assert [s.event_uid for s in stored[:3]] == [e.uid for e in backlog]
    assert [s.track_id for s in stored] == [0, 1, 2, 3]
    assert chain_holds(engine, keyring)


def test_the_default_directory_is_per_door_and_stays_inside_home(tmp_path: Path) -> None:
    assert default_journal_dir(tmp_path, "front") == tmp_path / "journal" / "front"
    escaped = default_journal_dir(tmp_path, "../../etc")
    assert escaped.parent == tmp_path / "journal" and os.sep not in escaped.name


def test_a_delivery_that_keeps_failing_is_logged_with_one_traceback_then_counted_not_per_retry(
    tmp_path: Path, engine, keyring, caplog: pytest.LogCaptureFixture
) -> None:
    """The delivery thread logged 'delivering the audit journal J failed; retrying' with a traceback at
    every retry (up to one per journal_retry_max_s, 10 s by default: 360 an hour). Here the delivery
    position cannot be written (its temporary name is taken by a directory) until the directory goes."""
    caplog.set_level(logging.WARNING, logger="gate.delivery")
    ticks = itertools.count()  # the failure log's clock: one second a reading
    blocked = tmp_path / (POSITION_FILE + ".tmp")
    with _journal(tmp_path) as journal:
        deliverer = JournalDeliverer(
            journal,
            sink=database_sink(engine, keyring),
            retry_initial_s=0.001,
            retry_max_s=0.001,
            monotonic=lambda: float(next(ticks)),
        )
        journal.append(sample_event(1))
        blocked.mkdir()
        deliverer.start()
        deadline = time.monotonic() + 60.0
        while deliverer.error_count < 66 and time.monotonic() < deadline:
            time.sleep(0.01)
        blocked.rmdir()
        assert deliverer.wait_delivered(30.0)
        deliverer.stop(drain_timeout_s=5.0)

    failed = deliverer.error_count
    assert failed >= 66
    lines = [
        (r.levelno, r.exc_info is not None, r.getMessage())
        for r in caplog.records
        if r.name == "gate.delivery"
    ]
    assert stored_events(engine) and sum(traced for _, traced, _ in lines) == 1, f"{len(lines)} lines"
    first, *counts, ended = lines
    where = f"delivering the audit journal {journal.path}"
    assert first[:2] == (logging.ERROR, True)
    assert first[2].startswith(f"{where} failed (JournalError: cannot update the audit journal in "), first
    still = f"{where} still failing: 30 attempts failed in the last 30 s; events wait in the journal"
    assert counts == [(logging.WARNING, False, still)] * ((failed - 1) // 30)
    assert ended == (
        logging.WARNING,
        False,
        f"{where} works again after {failed}.0 s ({failed} attempts failed)",
    )
