"""Rows another transaction deletes between a change's read and its write: the change is NotFound, never
the ORM's StaleDataError (a 500) nor a success that removed nothing (its 'expected to delete' warning)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from storage import (
    DoorRuleCreate,
    Engine,
    Keyring,
    NotFound,
    Session,
    Weekday,
    add_member,
    bump_gallery_version,
    create_door_rule,
    create_group,
    create_person,
    delete_door_rule,
    delete_group,
    delete_person,
    delete_template,
    erase_person,
    get_person,
    list_groups,
    remove_member,
    rewrap_person_keys,
    session_scope,
)
from tests.concurrency import Worker, held_after
from tests.storage.audit_helpers import audited_by
from tests.storage.template_helpers import person_with_templates

BLOCKED_S = 2.0
"""How long the held change waits for its rival: it goes on at once unless a lock holds the rival back."""


def _as_in_use(session: Session) -> None:
    """Make the gallery version row, as a database in use has it (the first change made it: an insert,
    which on SQLite holds other writers out from the start of that change)."""
    bump_gallery_version(session)


def test_an_orm_update_of_a_row_deleted_meanwhile_is_not_found(engine: Engine, keyring: Keyring) -> None:
    """What session_scope makes of the ORM's StaleDataError, for any path still reading then updating."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id
        assert person_id is not None

    with pytest.raises(NotFound, match="person row this change writes was deleted meanwhile"):
        with session_scope(engine) as session:
            person = get_person(session, person_id)
            with session_scope(engine) as other:
                delete_person(other, person_id, erased_by=audited_by(keyring))
            person.name = "Bo"
            session.add(person)


def _one_not_found(holder: Worker, rival: Worker) -> None:
    """One of the two changes did it, the other (whichever came later) was told NotFound."""
    errors = holder.errors + rival.errors
    assert len(errors) == 1 and isinstance(errors[0], NotFound), errors


def _race(
    engine: Engine, first: Callable[[Session], object], *, fragment: str, second: Callable[[Session], object]
) -> tuple[Worker, Worker]:
    return held_after(engine, first, fragment=fragment, second=second, blocked_s=BLOCKED_S)


def test_a_member_removed_twice_at_once_is_removed_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        person_id = create_person(session, name="Ann").id
        assert person_id is not None
        group_id = create_group(session, name="lab").id
        add_member(session, group_id=group_id, person_id=person_id)

    def remove(session: Session) -> object:
        return remove_member(session, group_id=group_id, person_id=person_id)

    _one_not_found(*_race(engine, remove, fragment="FROM access_group_member", second=remove))
    with session_scope(engine) as session:
        assert [group.member_ids for group in list_groups(session)[0]] == [[]]


def test_a_door_rule_deleted_twice_at_once_is_deleted_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        group_id = create_group(session, name="lab").id
        rule = DoorRuleCreate(
            door="front",
            create_door=True,
            group_id=group_id,
            weekdays=[Weekday.mon],
            start="08:00",
            end="18:00",
            timezone="UTC",
        )
        rule_id = create_door_rule(session, rule).id

    def delete(session: Session) -> None:
        delete_door_rule(session, rule_id, allow_open_doors=True)  # the door's only rule

    _one_not_found(*_race(engine, delete, fragment="FROM door_access_rule", second=delete))


def test_a_group_deleted_twice_at_once_is_deleted_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        _as_in_use(session)
        group_id = create_group(session, name="lab").id

    def delete(session: Session) -> None:
        delete_group(session, group_id)

    _one_not_found(*_race(engine, delete, fragment="FROM access_group", second=delete))


def test_a_person_deleted_twice_at_once_is_deleted_once(engine: Engine, keyring: Keyring) -> None:
    person_id, _ = person_with_templates(engine, keyring, count=2)
    removed: list[int] = []

    def delete(session: Session) -> None:
        removed.append(delete_person(session, person_id, erased_by=audited_by(keyring)))

    _one_not_found(*_race(engine, delete, fragment="FROM person", second=delete))
    assert removed == [2]


def test_a_template_deleted_while_its_person_is_erased_is_deleted_once(
    engine: Engine, keyring: Keyring
) -> None:
    person_id, (template_id, _) = person_with_templates(engine, keyring, count=2)
    reports = []

    def delete(session: Session) -> None:
        delete_template(session, person_id=person_id, template_id=template_id, erased_by=audited_by(keyring))

    deleter, eraser = _race(
        engine,
        delete,
        fragment="FROM face_template",
        second=lambda session: reports.append(
            erase_person(session, person_id, erased_by=audited_by(keyring))
        ),
    )

    assert eraser.errors == []
    assert len(deleter.errors) <= 1 and all(isinstance(error, NotFound) for error in deleter.errors)
    assert reports[0].templates_removed == (2 if deleter.errors else 1)


def test_keys_rewrapped_while_a_person_is_deleted_skip_the_deleted_key(engine: Engine) -> None:
    """`facegate keys rotate` while an admin deletes a person: the rotation re-wraps the keys still there."""
    old_key = os.urandom(32)
    gone, _ = person_with_templates(engine, Keyring([old_key]), count=1)
    kept, _ = person_with_templates(engine, Keyring([old_key]), count=1)
    rotator = Keyring([os.urandom(32), old_key])
    changed: list[int] = []

    rewrapper, deleter = _race(
        engine,
        lambda session: changed.append(rewrap_person_keys(session, rotator)),
        fragment="FROM person_key",
        second=lambda session: delete_person(session, gone, erased_by=audited_by(rotator)),
    )

    assert rewrapper.errors == [] and deleter.errors == []
    assert changed[0] in {1, 2}  # 2: the rotation went first (PostgreSQL's row locks), then the deletion
    with session_scope(engine) as session:
        assert rewrap_person_keys(session, rotator) == 0
        get_person(session, kept)
