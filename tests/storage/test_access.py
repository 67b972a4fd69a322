"""Access policy storage: groups, members, door rules; each change bumps the gallery version."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import event

from storage import (
    Conflict,
    DoorNotFound,
    DoorRuleCreate,
    Engine,
    Keyring,
    NotFound,
    Weekday,
    add_member,
    bump_gallery_version,
    create_backup,
    create_door,
    create_door_rule,
    create_group,
    create_person,
    create_schema,
    delete_door_rule,
    delete_group,
    delete_person,
    door_access_windows,
    ensure_door,
    gallery_version,
    get_group,
    list_door_rules,
    list_doors,
    list_groups,
    make_engine,
    remove_member,
    rename_door,
    restore_backup,
    session_scope,
)
from tests.concurrency import Worker, held_after, signal_on
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import store_people


def _people(engine: Engine, *names: str) -> list[int]:
    with session_scope(engine) as session:
        ids = [create_person(session, name=name).id for name in names]
    assert all(person_id is not None for person_id in ids)
    return [int(person_id) for person_id in ids if person_id is not None]


def _version(engine: Engine) -> int:
    with session_scope(engine) as session:
        return gallery_version(session)


def _rule(door: str, group_id: int, **changes: object) -> DoorRuleCreate:
    values: dict[str, object] = {
        "door": door,
        "create_door": True,  # registered if new, as these tests' doors are
        "group_id": group_id,
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "start": "08:00",
        "end": "18:30",
        "timezone": "Europe/Berlin",
    }
    return DoorRuleCreate.model_validate(values | changes)


def test_groups_and_members_round_trip_and_bump_the_gallery_version(engine: Engine) -> None:
    ada, bob = _people(engine, "Ada", "Bob")
    start = _version(engine)
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=bob)
        add_member(session, group_id=staff.id, person_id=ada)
        add_member(session, group_id=staff.id, person_id=ada)  # already there: no-op
    after_adds = _version(engine)
    assert after_adds == start + 2
    with session_scope(engine) as session:
        assert get_group(session, staff.id).member_ids == [ada, bob]
        assert remove_member(session, group_id=staff.id, person_id=bob).member_ids == [ada]
        groups, total = list_groups(session)
    assert total == 1 and [g.name for g in groups] == ["staff"]
    assert groups[0].created_at.utcoffset() is not None
    assert _version(engine) == after_adds + 1


def test_group_errors_are_domain_errors(engine: Engine) -> None:
    [ada] = _people(engine, "Ada")
    with session_scope(engine) as session:
        group = create_group(session, name="staff")
    with pytest.raises(Conflict), session_scope(engine) as session:
        create_group(session, name="staff")
    with pytest.raises(NotFound), session_scope(engine) as session:
        add_member(session, group_id=group.id, person_id=ada + 100)
    with pytest.raises(NotFound), session_scope(engine) as session:
        add_member(session, group_id=group.id + 100, person_id=ada)
    with pytest.raises(NotFound), session_scope(engine) as session:
        remove_member(session, group_id=group.id, person_id=ada)
    with pytest.raises(NotFound), session_scope(engine) as session:
        delete_group(session, group.id + 100)


def test_door_rules_round_trip_per_door_and_register_the_door(engine: Engine) -> None:
    ada, bob = _people(engine, "Ada", "Bob")
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=ada)
        front = create_door_rule(session, _rule("front", staff.id, weekdays=["fri", "mon", "mon"]))
        create_door_rule(session, _rule("lab", staff.id, start="00:00", end="24:00", timezone="UTC"))
    assert (front.door, front.weekdays, front.start, front.end) == (
        "front",
        [Weekday.mon, Weekday.fri],
        "08:00",
        "18:30",
    )
    with session_scope(engine) as session:
        assert [door.name for door in list_doors(session)] == ["front", "lab"]
        rules, total = list_door_rules(session, door="lab")
        all_rules, all_total = list_door_rules(session)
        [window] = door_access_windows(session, door="front")
        with pytest.raises(DoorNotFound, match="no door is called 'nowhere'"):
            door_access_windows(session, door="nowhere")  # not [], which would admit everyone
    assert total == 1 and (rules[0].start, rules[0].end) == ("00:00", "24:00")
    assert all_total == 2 and [rule.door for rule in all_rules] == ["front", "lab"]
    assert window.person_ids == {ada} and bob not in window.person_ids
    assert window.iso_weekdays == {1, 5}
    assert (window.start_minute, window.end_minute, window.timezone) == (480, 1110, "Europe/Berlin")


def test_a_renamed_door_keeps_its_rules_under_its_former_name_which_no_other_door_takes(
    engine: Engine,
) -> None:
    """A gate finds its door by the name it is configured with: after a rename the old name must still
    give the door's rules (it gave none: an open door) and never become another door."""
    [ada] = _people(engine, "Ada")
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=ada)
        door = create_door(session, name="front")
        create_door_rule(session, _rule("front", staff.id))
        rename_door(session, door.id, name="lobby", now=datetime.now(UTC))
        renamed = rename_door(session, door.id, name="hall", now=datetime.now(UTC))
    assert (renamed.name, renamed.former_names, len(renamed.rules)) == ("hall", ["front", "lobby"], 1)
    with session_scope(engine) as session:
        by_former = door_access_windows(session, door="front")
        assert by_former == door_access_windows(session, door="hall") and by_former[0].person_ids == {ada}
        assert ensure_door(session, name="lobby").id == door.id  # a gate started after the rename
        for name in ("front", "lobby", "hall"):  # a rule listing by any name the door has had
            rules, total = list_door_rules(session, door=name)
            assert (total, [rule.door for rule in rules]) == (1, ["hall"]), name
        assert list_door_rules(session, door="nowhere") == ([], 0)
        assert [d.name for d in list_doors(session)] == ["hall"]
    for taking_it in (
        lambda session: create_door(session, name="front"),
        lambda session: rename_door(
            session, create_door(session, name="lab").id, name="lobby", now=datetime.now(UTC)
        ),
    ):
        with pytest.raises(Conflict, match="former name of door 'hall'"), session_scope(engine) as session:
            taking_it(session)
    with session_scope(engine) as session:
        back = rename_door(session, door.id, name="front", now=datetime.now(UTC))  # its own former name
    assert (back.name, back.former_names) == ("front", ["lobby", "hall"])


def test_deleting_a_person_group_or_rule_removes_what_hangs_on_it(engine: Engine, keyring: Keyring) -> None:
    ada, bob = _people(engine, "Ada", "Bob")
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=ada)
        add_member(session, group_id=staff.id, person_id=bob)
        rule = create_door_rule(session, _rule("front", staff.id))
        create_door_rule(session, _rule("back", staff.id))
    with session_scope(engine) as session:
        delete_person(session, bob, erased_by=audited_by(keyring))
    with session_scope(engine) as session:
        assert get_group(session, staff.id).member_ids == [ada]
        before = gallery_version(session)
        delete_door_rule(session, rule.id, allow_open_doors=True)  # front's only rule
        assert gallery_version(session) == before + 1
        assert door_access_windows(session, door="front") == []
    with pytest.raises(NotFound), session_scope(engine) as session:
        delete_door_rule(session, rule.id)
    with session_scope(engine) as session:
        delete_group(session, staff.id, allow_open_doors=True)  # back's only rule
    with session_scope(engine) as session:
        assert list_groups(session)[1] == 0
        assert list_door_rules(session)[1] == 0


def test_deleting_the_last_rules_of_a_door_is_refused_unless_asked_since_it_would_admit_everyone(
    engine: Engine,
) -> None:
    """A door without rules admits every enrolled person at any time: deleting the rule (or the group) that
    restricted a door to a few people on Monday mornings opened it to everyone, day and night."""
    contractor, employee = _people(engine, "Contractor", "Employee")
    with session_scope(engine) as session:
        contractors = create_group(session, name="contractors")
        staff = create_group(session, name="staff")
        add_member(session, group_id=contractors.id, person_id=contractor)
        add_member(session, group_id=staff.id, person_id=employee)
        server_room = create_door_rule(session, _rule("server room", contractors.id, weekdays=["mon"]))
        lobby = create_door_rule(session, _rule("lobby", contractors.id))
        create_door_rule(session, _rule("lobby", staff.id))
    version = _version(engine)
    refusal = (
        "would leave door 'server room' without rules, and a door without rules admits every enrolled "
        "person at any time: add another rule there first, or delete with allow_open_doors=true"
    )

    with pytest.raises(Conflict, match=re.escape(f"deleting rule {server_room.id} {refusal}")):
        with session_scope(engine) as session:
            delete_door_rule(session, server_room.id)
    with pytest.raises(Conflict, match=re.escape(f"deleting group {contractors.id} {refusal}")):
        with session_scope(engine) as session:
            delete_group(session, contractors.id)

    with session_scope(engine) as session:
        assert [window.rule_id for window in door_access_windows(session, door="server room")] == [
            server_room.id
        ]
        assert get_group(session, contractors.id).member_ids == [contractor]
        assert list_door_rules(session)[1] == 3
    assert _version(engine) == version
    with session_scope(engine) as session:
        delete_door_rule(session, lobby.id)  # the lobby keeps its staff rule
        delete_group(session, contractors.id, allow_open_doors=True)
    with session_scope(engine) as session:
        assert door_access_windows(session, door="server room") == []
        assert [window.person_ids for window in door_access_windows(session, door="lobby")] == [{employee}]


def test_two_rules_of_a_door_deleted_at_once_leave_one(engine: Engine) -> None:
    """Each deletion alone leaves the other rule; both at once would leave none. The second waits for the
    first (the gallery version lock), then finds its rule the last one."""
    with session_scope(engine) as session:
        staff = create_group(session, name="staff")
        first, second = (create_door_rule(session, _rule("lab", staff.id)).id for _ in range(2))

    holder, rival = held_after(
        engine,
        lambda s: delete_door_rule(s, first),
        fragment="FROM door_access_rule",
        second=lambda s: delete_door_rule(s, second),
        blocked_s=2.0,
    )

    errors = holder.errors + rival.errors
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    with session_scope(engine) as session:
        assert list_door_rules(session, door="lab")[1] == 1


def test_a_rule_for_a_missing_group_is_refused(engine: Engine) -> None:
    with pytest.raises(NotFound), session_scope(engine) as session:
        create_door_rule(session, _rule("front", 12345))
    with session_scope(engine) as session:
        assert list_doors(session) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"start": "18:00", "end": "08:00"}, "overnight", id="overnight"),
        pytest.param({"start": "08:00", "end": "08:00"}, "before end", id="empty-window"),
        pytest.param({"start": "8:00"}, "HH:MM", id="short-hour"),
        pytest.param({"end": "24:01"}, "HH:MM", id="past-midnight"),
        pytest.param({"timezone": "Mars/Olympus_Mons"}, "unknown time zone", id="zone"),
        pytest.param({"weekdays": []}, "at least 1", id="no-days"),
        pytest.param({"weekdays": ["monday"]}, "weekdays", id="day-name"),
    ],
)
def test_invalid_rules_fail_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _rule("front", 1, **changes)


@pytest.mark.parametrize("zone", ["localtime", "posix/Europe/Berlin", "right/Europe/Berlin", "Europe"])
def test_a_zone_name_that_is_no_iana_zone_is_refused_though_this_machine_opens_it(zone: str) -> None:
    """ZoneInfo opens these where the system's zone files have them, so such rules were stored: `localtime`
    (Debian's link to the machine's own zone) each gate read as its own zone, and a gate without the link
    or the `posix/` and `right/` (leap seconds) copies could not read the rule at all; a folder of zones
    (`Europe`) raised IsADirectoryError, no validation error."""
    refusal = f"unknown time zone {zone!r}: name an IANA time zone"
    with pytest.raises(ValidationError, match=re.escape(refusal)):
        _rule("front", 1, timezone=zone)
    assert _rule("front", 1, timezone="US/Eastern").timezone == "US/Eastern"  # a link IANA lists is one


def test_a_backup_restores_the_policy_without_people_erased_since(
    engine: Engine, keyring: Keyring, real_vectors: list[np.ndarray], tmp_path: Path
) -> None:
    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    create_schema(source)
    erased, kept, _ = store_people(source, keyring, real_vectors)
    with session_scope(source) as session:
        staff = create_group(session, name="staff")
        add_member(session, group_id=staff.id, person_id=erased)
        add_member(session, group_id=staff.id, person_id=kept)
        create_door_rule(session, _rule("front", staff.id))
    before = create_backup(source, tmp_path / "before", master_keys=None, cipher=keyring)
    with session_scope(source) as session:
        delete_person(session, erased, erased_by=audited_by(keyring))
    after = create_backup(source, tmp_path / "after", master_keys=None, cipher=keyring)

    report = restore_backup(engine, data=before.data, keys=after.keys, cipher=keyring)

    assert report.erased_people == [erased]
    with session_scope(engine) as session:
        assert get_group(session, staff.id).member_ids == [kept]
        [window] = door_access_windows(session, door="front")
    assert window.person_ids == {kept}


def test_adding_a_person_to_a_group_while_they_are_deleted_never_deadlocks(
    engine: Engine, keyring: Keyring
) -> None:
    """The delete holds the gallery version row; the member insert must not take the person first."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Leaving").id or 0
        group_id = create_group(session, name="staff").id
        bump_gallery_version(session)  # the row exists, as on any running system

    def add() -> None:
        with session_scope(engine) as session:
            add_member(session, group_id=group_id, person_id=person_id)

    adding = Worker(add)
    deleter = threading.get_ident()

    def add_once_the_row_is_held(_conn, _cursor, statement: str, *_args: object) -> None:
        is_deleter = threading.get_ident() == deleter
        if is_deleter and "FROM gallery_version" in statement and adding.thread.ident is None:
            adding.thread.start()
            adding.reached.wait(timeout=2.0)  # it inserts the member, or waits for this row meanwhile

    event.listen(engine, "after_cursor_execute", add_once_the_row_is_held)
    try:
        with signal_on(engine, adding, "INSERT INTO access_group_member", is_after=True):
            with session_scope(engine) as session:
                delete_person(session, person_id, erased_by=audited_by(keyring))
            adding.thread.join()
    finally:
        event.remove(engine, "after_cursor_execute", add_once_the_row_is_held)

    assert [type(error) for error in adding.errors] == [NotFound]  # found no one, after the delete
    with session_scope(engine) as session:
        assert get_group(session, group_id).member_ids == []
