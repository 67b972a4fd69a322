"""The door's access policy: weekly windows in local time, and the cache that reloads it with the gallery."""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gate import AccessPolicyCache, DoorPolicy, UnknownDoor, in_window
from storage import (
    AccessWindow,
    DatabaseUnavailable,
    DoorRuleCreate,
    Engine,
    add_member,
    create_door,
    create_door_rule,
    create_group,
    create_person,
    create_schema,
    ensure_door,
    make_engine,
    remove_member,
    rename_door,
    session_scope,
)
from tests.fakes import FakeClock

ADA, BOB = 1, 2
# Monday 2026-11-23; Berlin is UTC+1 in November, New York UTC-5.
OFFICE_HOURS_BERLIN = AccessWindow(
    rule_id=1,
    person_ids=frozenset({ADA}),
    iso_weekdays=frozenset({1, 2, 3, 4, 5}),
    start_minute=8 * 60,
    end_minute=18 * 60,
    timezone="Europe/Berlin",
)


def _utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at_utc", "expected"),
    [
        pytest.param(_utc(23, 6, 59, 59), False, id="monday-07:59:59-berlin-before"),
        pytest.param(_utc(23, 7, 0), True, id="monday-08:00-berlin-start-inclusive"),
        pytest.param(_utc(23, 16, 59, 59), True, id="monday-17:59:59-berlin-inside"),
        pytest.param(_utc(23, 17, 0), False, id="monday-18:00-berlin-end-exclusive"),
        pytest.param(_utc(22, 10, 0), False, id="sunday-berlin"),
        pytest.param(_utc(27, 23, 30), False, id="friday-23:30-utc-is-saturday-in-berlin"),
        pytest.param(_utc(29, 23, 30), False, id="sunday-23:30-utc-is-monday-00:30-berlin-too-early"),
    ],
)
def test_a_window_is_read_in_its_own_time_zone(at_utc: datetime, expected: bool) -> None:
    assert in_window(OFFICE_HOURS_BERLIN, ADA, at_utc) is expected


def test_the_weekday_is_the_local_one() -> None:
    # Tuesday 02:00 UTC is still Monday 21:00 in New York.
    late_monday_new_york = AccessWindow(
        rule_id=2,
        person_ids=frozenset({ADA}),
        iso_weekdays=frozenset({1}),
        start_minute=20 * 60,
        end_minute=24 * 60,
        timezone="America/New_York",
    )
    assert in_window(late_monday_new_york, ADA, _utc(24, 2, 0))
    assert not in_window(late_monday_new_york, ADA, _utc(24, 6, 0))  # Tuesday 01:00 there


def test_a_person_outside_the_group_is_never_admitted() -> None:
    assert not in_window(OFFICE_HOURS_BERLIN, BOB, _utc(23, 10, 0))


def test_a_door_without_rules_admits_everyone_and_any_rule_closes_it() -> None:
    open_door = DoorPolicy(door="front", windows=())
    assert open_door.is_open and open_door.admits(BOB, _utc(22, 3, 0))
    ruled = DoorPolicy(door="front", windows=(OFFICE_HOURS_BERLIN,))
    assert not ruled.is_open
    assert ruled.admits(ADA, _utc(23, 10, 0)) and not ruled.admits(BOB, _utc(23, 10, 0))


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "localtime/..", "Europe"])
def test_a_rule_in_a_zone_this_gate_cannot_read_admits_no_one_and_the_other_rules_still_do(
    zone: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A zone the gate's time zone database lacks (newer than it, or `localtime` taken before the API refused
    it): ZoneInfo's error left in_window and ended the camera's worker, for a person another rule admits."""
    unreadable = AccessWindow(
        rule_id=7,
        person_ids=frozenset({ADA, BOB}),
        iso_weekdays=frozenset(range(1, 8)),
        start_minute=0,
        end_minute=24 * 60,
        timezone=zone,
    )
    policy = DoorPolicy(door="front", windows=(unreadable, OFFICE_HOURS_BERLIN))
    with caplog.at_level(logging.ERROR, logger="gate.access_policy"):
        assert policy.admits(ADA, _utc(23, 10, 0)) and not policy.admits(BOB, _utc(23, 10, 0))
    assert f"door rule 7: time zone {zone!r} is unknown to this gate's time zone database" in caplog.text


def _rule(group_id: int) -> DoorRuleCreate:
    return DoorRuleCreate(
        door="front",
        create_door=True,  # registered here unless the test did (as a gate would)
        group_id=group_id,
        weekdays=["mon"],
        start="00:00",
        end="24:00",
        timezone="UTC",
    )


def test_the_cache_reloads_when_the_policy_changes(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    with session_scope(engine) as session:
        ensure_door(session, name="front")  # registered, as an admin does before the gate starts
    cache = AccessPolicyCache(engine=engine, door="front", poll_s=2.0, monotonic=clock)
    assert cache.current().is_open
    assert "door front has no access rules: every enrolled person is admitted" in caplog.text
    with session_scope(engine) as session:
        ada = create_person(session, name="Ada").id
        assert ada is not None
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=ada)
        create_door_rule(session, _rule(staff.id))
    assert cache.current().is_open  # not re-checked before poll_s
    clock.advance(2.0)
    policy = cache.current()
    assert not policy.is_open and policy.admits(ada, _utc(23, 12, 0))
    with session_scope(engine) as session:
        remove_member(session, group_id=staff.id, person_id=ada)
    clock.advance(2.0)
    assert not cache.current().admits(ada, _utc(23, 12, 0))


def test_the_cache_keeps_the_last_policy_when_the_database_fails_but_never_starts_without_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    folder = tmp_path / "db"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'facegate.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        create_door_rule(session, _rule(staff.id))
    cache = AccessPolicyCache(engine=engine, door="front", poll_s=2.0, monotonic=clock)
    loaded = cache.current()
    engine.dispose()
    shutil.rmtree(folder)  # the database is gone
    clock.advance(5.0)

    with caplog.at_level(logging.WARNING, logger="gate.access_policy"):
        for _ in range(3):
            assert cache.current() == loaded and not loaded.is_open
            clock.advance(5.0)
    assert [r.getMessage() for r in caplog.records].count(
        "door front: access rules could not be re-checked; keeping the last"
    ) == 1, "an outage is logged once, not on every poll"
    fresh = AccessPolicyCache(engine=engine, door="front", poll_s=2.0, monotonic=clock)
    with pytest.raises(DatabaseUnavailable):
        fresh.current()


def test_a_running_gate_keeps_its_doors_rules_after_a_rename_and_warns(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The rename left a running gate configured with the old name on a door with no rules: it admitted
    every enrolled person, with only the usual 'no access rules' warning."""
    clock = FakeClock()
    with session_scope(engine) as session:
        ada, bob = (create_person(session, name=name).id for name in ("Ada", "Bob"))
        assert ada is not None and bob is not None
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=ada)
        door = create_door(session, name="front")
        create_door_rule(session, _rule(staff.id))
    cache = AccessPolicyCache(engine=engine, door="front", poll_s=2.0, monotonic=clock)
    assert not cache.current().admits(bob, _utc(23, 12, 0))
    with session_scope(engine) as session:
        rename_door(session, door.id, name="lobby", now=datetime.now(UTC))
    clock.advance(2.0)
    with caplog.at_level(logging.WARNING, logger="gate.access_policy"):
        for _ in range(3):
            policy = cache.current()
            assert not policy.is_open and not policy.admits(bob, _utc(23, 12, 0))
            assert policy.admits(ada, _utc(23, 12, 0))
            clock.advance(2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "door front was renamed to lobby: this gate applies its rules under the former name; "
        "configure the gate with door lobby"
    ]


def test_a_door_that_is_no_door_denies_rather_than_admitting_everyone(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    cache = AccessPolicyCache(engine=engine, door="nowhere", poll_s=2.0, monotonic=clock)
    with caplog.at_level(logging.ERROR, logger="gate.access_policy"):
        for _ in range(3):
            with pytest.raises(UnknownDoor, match="no door is called 'nowhere'.*every face is denied"):
                cache.current()
            clock.advance(1.0)
    assert len(caplog.records) == 1, "logged when the door goes missing, not on every frame"
    with session_scope(engine) as session:
        create_door(session, name="nowhere")
    clock.advance(2.0)
    assert cache.current().is_open  # registered since: checked again after poll_s
