"""Audit log on SQLite and PostgreSQL: filters, pagination with a total, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage import (
    AuditEventCreate,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    append_event,
    query_events,
    session_scope,
)

BASE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def _event(
    minute: int, *, door: str, decision: Decision, person_id: int | None, **extra: object
) -> AuditEventCreate:
    return AuditEventCreate(
        door=door,
        source="rtsp://cam-1",
        decision=decision,
        reason="match" if decision == Decision.granted else "no_match",
        person_id=person_id,
        score=0.5 + minute / 100,
        threshold=0.363,
        model_id="sface-2021dec-int8bq",
        occurred_at=BASE + timedelta(minutes=minute),
        **extra,
    )


# minute, door, decision, person
ROWS = [
    (0, "front", Decision.granted, 1),
    (1, "front", Decision.denied, None),
    (2, "back", Decision.granted, 2),
    (3, "front", Decision.granted, 2),
    (4, "back", Decision.denied, 1),
    (5, "front", Decision.denied, None),
    (6, "back", Decision.granted, 1),
    (7, "front", Decision.granted, 1),
]


@pytest.fixture
def populated(engine: Engine, keyring: Keyring) -> Engine:
    with session_scope(engine) as session:
        for minute, door, decision, person_id in ROWS:
            append_event(
                session,
                keyring,
                _event(minute, door=door, decision=decision, person_id=person_id, track_id=minute),
            )
    return engine


def _minutes(events: list) -> list[int]:
    return [int((event.occurred_at - BASE).total_seconds() // 60) for event in events]


def _expected(predicate) -> list[int]:  # newest first
    return [
        minute
        for minute, door, decision, person in reversed(ROWS)
        if predicate(minute, door, decision, person)
    ]


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({}, lambda m, d, dec, p: True),
        ({"door": "front"}, lambda m, d, dec, p: d == "front"),
        ({"door": "side"}, lambda m, d, dec, p: False),
        ({"person_id": 1}, lambda m, d, dec, p: p == 1),
        ({"decision": Decision.denied}, lambda m, d, dec, p: dec == Decision.denied),
        ({"since": BASE + timedelta(minutes=3)}, lambda m, d, dec, p: m >= 3),
        ({"until": BASE + timedelta(minutes=3)}, lambda m, d, dec, p: m < 3),
        (
            {"since": BASE + timedelta(minutes=2), "until": BASE + timedelta(minutes=6)},
            lambda m, d, dec, p: 2 <= m < 6,
        ),
        (
            {"door": "front", "decision": Decision.granted, "person_id": 1},
            lambda m, d, dec, p: d == "front" and dec == Decision.granted and p == 1,
        ),
        (
            # The same instants written in another zone select the same rows.
            {"since": (BASE + timedelta(minutes=2)).astimezone(PLUS_TWO)},
            lambda m, d, dec, p: m >= 2,
        ),
    ],
    ids=[
        "all",
        "door",
        "unknown-door",
        "person",
        "decision",
        "since",
        "until",
        "window",
        "combined",
        "since-+02",
    ],
)
def test_filters_match_a_reference(populated: Engine, filters: dict, predicate) -> None:
    with session_scope(populated) as session:
        events, total = query_events(session, where=EventFilter(**filters))

    expected = _expected(predicate)
    assert _minutes(events) == expected
    assert total == len(expected)


def test_pagination_walks_every_event_once_newest_first(populated: Engine) -> None:
    seen = []
    with session_scope(populated) as session:
        for offset in range(0, 10, 3):
            page, total = query_events(session, offset=offset, limit=3)
            assert total == len(ROWS)
            assert len(page) == min(3, max(0, len(ROWS) - offset))
            seen.extend(page)
        filtered_page, filtered_total = query_events(
            session, where=EventFilter(door="front"), offset=1, limit=2
        )

    assert _minutes(seen) == [7, 6, 5, 4, 3, 2, 1, 0]
    assert len({event.id for event in seen}) == len(ROWS)
    assert ids_descending([event.id for event in seen])
    assert filtered_total == 5 and _minutes(filtered_page) == [5, 3]


def ids_descending(ids: list[int]) -> bool:
    return all(a > b for a, b in zip(ids, ids[1:], strict=False))


def test_events_keep_every_field_and_come_back_in_utc(populated: Engine) -> None:
    with session_scope(populated) as session:
        events, _ = query_events(session, where=EventFilter(person_id=2, door="back"))

    assert len(events) == 1
    event = events[0]
    assert event.occurred_at == BASE + timedelta(minutes=2)
    assert event.occurred_at.tzinfo is not None and event.occurred_at.utcoffset() == timedelta(0)
    assert (event.door, event.source, event.track_id, event.decision, event.reason) == (
        "back",
        "rtsp://cam-1",
        2,
        Decision.granted,
        "match",
    )
    assert event.score == pytest.approx(0.52) and event.threshold == pytest.approx(0.363)
    assert event.model_id == "sface-2021dec-int8bq"


def test_event_time_given_in_another_zone_is_stored_as_the_same_instant(
    engine: Engine, keyring: Keyring
) -> None:
    local = datetime(2024, 5, 1, 14, 0, tzinfo=PLUS_TWO)  # 12:00 UTC
    with session_scope(engine) as session:
        append_event(
            session,
            keyring,
            _event(0, door="front", decision=Decision.granted, person_id=1).model_copy(
                update={"occurred_at": local}
            ),
        )

    with session_scope(engine) as session:
        events, _ = query_events(session)
        half_past = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        later, later_total = query_events(session, where=EventFilter(since=half_past))
        earlier, earlier_total = query_events(session, where=EventFilter(until=half_past))

    assert events[0].occurred_at == local
    assert events[0].occurred_at.utcoffset() == timedelta(0)
    assert events[0].occurred_at.hour == 12
    assert later_total == 0 and earlier_total == 1


def test_default_time_is_now_in_utc(engine: Engine, keyring: Keyring) -> None:
    before = datetime.now(UTC)
    event = AuditEventCreate(
        door="front", source="cam", decision=Decision.denied, reason="no_face", model_id="m"
    )
    with session_scope(engine) as session:
        append_event(session, keyring, event)
    after = datetime.now(UTC)

    with session_scope(engine) as session:
        events, total = query_events(session)

    assert total == 1
    assert before - timedelta(seconds=1) <= events[0].occurred_at <= after + timedelta(seconds=1)
    assert events[0].occurred_at.utcoffset() == timedelta(0)
    assert events[0].person_id is None and events[0].score is None


def test_a_failed_transaction_leaves_no_event(engine: Engine, keyring: Keyring) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        append_event(session, keyring, _event(0, door="front", decision=Decision.granted, person_id=1))
        raise RuntimeError("gate crashed before commit")

    with session_scope(engine) as session:
        assert query_events(session) == ([], 0)
