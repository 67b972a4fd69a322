"""Access policy: groups of people, and which group may pass which door when (weekly, in local time).

Every change bumps the gallery version in the same transaction, so running gates reload the policy
at their next gallery check (A2).
"""
# Longer than B3's 400 lines: groups, rules and doors are one policy, its changes under one lock.

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Delete, func
from sqlmodel import Session, col, delete, select

from storage.access_models import (
    RENAME_LOOKBACK_DAYS,
    AccessGroup,
    AccessGroupMember,
    AccessGroupPublic,
    DoorAccessRule,
    DoorPublic,
    DoorRenamedPublic,
    DoorRuleCreate,
    DoorRulePublic,
    Weekday,
)
from storage.audit import door_sources
from storage.device_models import DeviceDoor
from storage.doors import (
    current_door_name,
    door_called,
    ensure_door,
    former_door_names,
    refuse_reserved_door_name,
    refuse_unknown_doors,
)
from storage.errors import Conflict, DoorsLeftOpen, NotFound
from storage.gallery_log import bump_gallery_version, lock_gallery_version, record_change
from storage.models import Door, DoorFormerName, GalleryChangeKind
from storage.people import get_person
from storage.timeutil import as_utc

_WEEKDAYS = list(Weekday)


@dataclass(frozen=True)
class AccessWindow:
    """One door rule as a gate applies it: who (person ids) may pass, on which days, between which times."""

    rule_id: int
    person_ids: frozenset[int]
    iso_weekdays: frozenset[int]
    """Monday 1 to Sunday 7, in `timezone`."""
    start_minute: int
    end_minute: int
    """[start_minute, end_minute) after local midnight."""
    timezone: str


def _deleted(session: Session, statement: Delete, what: str) -> None:
    """Run a DELETE that finds its row by key; NotFound when it matched none.

    One statement, not the ORM's read-then-delete: on SQLite the reads before a change's first write
    hold no lock, so a row read there could be deleted by another change before the ORM's DELETE, which
    then matched nothing and warned while the change answered success.
    """
    if session.exec(statement).rowcount == 0:
        raise NotFound(f"{what} does not exist")


def _access_changed(session: Session) -> None:
    """Log an access-rule change and bump the gallery version that gates poll.

    Each change locks the version row before anything else, as enrollment and deletion of people do:
    a member row (which holds its person) taken first deadlocked with a deletion holding the row.
    """
    record_change(session, GalleryChangeKind.access_changed)
    bump_gallery_version(session)


def _clock_text(minute: int) -> str:
    """Minutes after midnight as HH:MM (1440 is 24:00)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _group_public(session: Session, group: AccessGroup) -> AccessGroupPublic:
    assert group.id is not None
    members = session.exec(
        select(AccessGroupMember.person_id)
        .where(AccessGroupMember.group_id == group.id)
        .order_by(col(AccessGroupMember.person_id))
    ).all()
    return AccessGroupPublic(
        id=group.id, name=group.name, created_at=as_utc(group.created_at), member_ids=list(members)
    )


def get_group(session: Session, group_id: int) -> AccessGroupPublic:
    """Raises NotFound when no such group exists."""
    group = session.get(AccessGroup, group_id)
    if group is None:
        raise NotFound(f"group {group_id} does not exist")
    return _group_public(session, group)


def person_groups(session: Session, person_id: int) -> list[AccessGroupPublic]:
    """The groups the person is a member of, by id, read in one statement: a group deleted meanwhile is
    in the list or not, never a NotFound for a group the person was seen in."""
    groups = session.exec(
        select(AccessGroup)
        .join(AccessGroupMember, col(AccessGroupMember.group_id) == col(AccessGroup.id))
        .where(AccessGroupMember.person_id == person_id)
        .order_by(col(AccessGroup.id))
    ).all()
    return [_group_public(session, group) for group in groups]


def create_group(session: Session, *, name: str) -> AccessGroupPublic:
    """Raises Conflict when a group of that name exists."""
    if session.exec(select(AccessGroup).where(AccessGroup.name == name)).first() is not None:
        raise Conflict(f"group {name!r} already exists")
    group = AccessGroup(name=name)
    session.add(group)
    session.flush()
    return _group_public(session, group)


def list_groups(session: Session, *, offset: int = 0, limit: int = 50) -> tuple[list[AccessGroupPublic], int]:
    """One page of groups ordered by id, with their members, and the total count."""
    total = int(session.exec(select(func.count()).select_from(AccessGroup)).one())
    rows = session.exec(select(AccessGroup).order_by(col(AccessGroup.id)).offset(offset).limit(limit)).all()
    return [_group_public(session, group) for group in rows], total


_OPEN_DOORS = (
    "add another rule there first, or delete with allow_open_doors=true (the API) or --allow-open-doors "
    "(facegate access rule delete, group delete) if everyone may pass"
)


def _refuse_opening_doors(
    session: Session, deleted: ColumnElement[bool], *, what: str, allow_open_doors: bool
) -> None:
    """Refuse to delete the rules `deleted` selects where they are the last rules of a door, unless asked.

    A door without rules admits every enrolled person at any time, so deleting the last rule of a door
    (or the group that has them) would open the door to everyone, where it meant to take access away.

    Raises:
        DoorsLeftOpen: naming the doors that would be left without rules (not with `allow_open_doors`).
    """
    if allow_open_doors:
        return
    ruled = select(DoorAccessRule.door_id).where(deleted)
    kept = select(DoorAccessRule.door_id).where(~deleted)
    doors = session.exec(
        select(Door.name).where(col(Door.id).in_(ruled), col(Door.id).not_in(kept)).order_by(col(Door.name))
    ).all()
    if doors:
        listed = ("door " if len(doors) == 1 else "doors ") + ", ".join(repr(name) for name in doors)
        raise DoorsLeftOpen(
            f"deleting {what} would leave {listed} without rules, and a door without rules admits every "
            f"enrolled person at any time: {_OPEN_DOORS}",
            doors=tuple(doors),
        )


def delete_group(session: Session, group_id: int, *, allow_open_doors: bool = False) -> None:
    """Delete a group, its memberships and its door rules.

    Raises:
        NotFound: no such group.
        DoorsLeftOpen: the group has the last rules of a door, which would then admit everyone (not with
            `allow_open_doors`).
    """
    lock_gallery_version(session)
    get_group(session, group_id)
    _refuse_opening_doors(
        session,
        col(DoorAccessRule.group_id) == group_id,
        what=f"group {group_id}",
        allow_open_doors=allow_open_doors,
    )
    session.exec(delete(DoorAccessRule).where(col(DoorAccessRule.group_id) == group_id))
    session.exec(delete(AccessGroupMember).where(col(AccessGroupMember.group_id) == group_id))
    _deleted(session, delete(AccessGroup).where(col(AccessGroup.id) == group_id), f"group {group_id}")
    _access_changed(session)


def add_member(session: Session, *, group_id: int, person_id: int) -> AccessGroupPublic:
    """Put a person in a group (a no-op when already there). Raises NotFound for either id."""
    lock_gallery_version(session)
    get_group(session, group_id)
    get_person(session, person_id)
    if session.get(AccessGroupMember, (group_id, person_id)) is None:
        session.add(AccessGroupMember(group_id=group_id, person_id=person_id))
        _access_changed(session)
        session.flush()
    return get_group(session, group_id)


def remove_member(session: Session, *, group_id: int, person_id: int) -> AccessGroupPublic:
    """Take a person out of a group. Raises NotFound when they are not in it."""
    lock_gallery_version(session)
    member = (col(AccessGroupMember.group_id) == group_id) & (col(AccessGroupMember.person_id) == person_id)
    if session.exec(delete(AccessGroupMember).where(member)).rowcount == 0:
        raise NotFound(f"person {person_id} is not in group {group_id}")
    _access_changed(session)
    session.flush()
    return get_group(session, group_id)


def _rule_public(rule: DoorAccessRule, door: str) -> DoorRulePublic:
    assert rule.id is not None
    return DoorRulePublic(
        id=rule.id,
        door=door,
        group_id=rule.group_id,
        weekdays=[_WEEKDAYS[int(digit) - 1] for digit in rule.weekdays],
        start=_clock_text(rule.start_minute),
        end=_clock_text(rule.end_minute),
        timezone=rule.timezone,
        created_at=as_utc(rule.created_at),
    )


_CREATE_DOOR = (
    "add the rule with create_door (the API) or --create-door (facegate access rule add), which registers "
    "the door with this rule"
)


def create_door_rule(session: Session, rule: DoorRuleCreate) -> DoorRulePublic:
    """Admit `rule.group_id` at `rule.door` on a weekly window; a former name adds it to the door it names
    now. A name no door has or had is refused unless `rule.create_door`: a misspelt door would get the
    rule, and the door meant would stay without it (open to every enrolled person if it has no rules).

    Raises:
        NotFound: no such group. DoorNotFound: a name no door has or had, without `create_door`.
    """
    lock_gallery_version(session)
    get_group(session, rule.group_id)
    if not rule.create_door:
        refuse_unknown_doors(session, [rule.door], to_create=_CREATE_DOOR)
    door = ensure_door(session, name=rule.door)
    assert door.id is not None
    row = DoorAccessRule(
        door_id=door.id,
        group_id=rule.group_id,
        weekdays="".join(sorted({str(_WEEKDAYS.index(day) + 1) for day in rule.weekdays})),
        start_minute=rule.start_minute,
        end_minute=rule.end_minute,
        timezone=rule.timezone,
    )
    session.add(row)
    _access_changed(session)
    session.flush()
    return _rule_public(row, door.name)


def list_door_rules(
    session: Session, *, door: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[DoorRulePublic], int]:
    """One page of rules ordered by id, and the total count.

    `door` (optional) keeps one door's rules, the door named by its name now or a former one, as a door
    filter of the audit log finds its events under every name it has had; a name no door has or had
    has none.
    """
    conditions = []
    if door is not None:
        found = door_called(session, door)
        if found is None:
            return [], 0
        conditions.append(col(DoorAccessRule.door_id) == found.id)
    joined = select(DoorAccessRule, Door).join(Door, col(Door.id) == col(DoorAccessRule.door_id))
    total = int(
        session.exec(
            select(func.count())
            .select_from(DoorAccessRule)
            .join(Door, col(Door.id) == col(DoorAccessRule.door_id))
            .where(*conditions)
        ).one()
    )
    rows = session.exec(
        joined.where(*conditions).order_by(col(DoorAccessRule.id)).offset(offset).limit(limit)
    )
    return [_rule_public(rule, door_row.name) for rule, door_row in rows], total


def delete_door_rule(session: Session, rule_id: int, *, allow_open_doors: bool = False) -> None:
    """Delete one door rule.

    Raises:
        NotFound: no such rule.
        DoorsLeftOpen: it is the last rule of its door, which would then admit everyone (not with
            `allow_open_doors`).
    """
    lock_gallery_version(session)
    _refuse_opening_doors(
        session,
        col(DoorAccessRule.id) == rule_id,
        what=f"rule {rule_id}",
        allow_open_doors=allow_open_doors,
    )
    _deleted(session, delete(DoorAccessRule).where(col(DoorAccessRule.id) == rule_id), f"door rule {rule_id}")
    _access_changed(session)
    session.flush()


def door_access_windows(session: Session, *, door: str) -> list[AccessWindow]:
    """Every rule of one door (by its name or a former name) with its group's members now: what a gate
    loads beside the gallery. An empty list: the door has no rules (it admits everyone).

    Raises:
        DoorNotFound: no door has or had that name; never an empty list, which would admit everyone.
    """
    name = current_door_name(session, door)
    rows = session.exec(
        select(DoorAccessRule)
        .join(Door, col(Door.id) == col(DoorAccessRule.door_id))
        .where(col(Door.name) == name)
        .order_by(col(DoorAccessRule.id))
    ).all()
    windows = []
    for rule in rows:
        assert rule.id is not None
        members = session.exec(
            select(AccessGroupMember.person_id).where(AccessGroupMember.group_id == rule.group_id)
        ).all()
        windows.append(
            AccessWindow(
                rule_id=rule.id,
                person_ids=frozenset(members),
                iso_weekdays=frozenset(int(digit) for digit in rule.weekdays),
                start_minute=rule.start_minute,
                end_minute=rule.end_minute,
                timezone=rule.timezone,
            )
        )
    return windows


MAX_RULES_PER_DOOR = 1000
"""Rules listed with a door (a door has a handful in practice)."""


def _door_public(session: Session, door: Door) -> DoorPublic:
    assert door.id is not None
    rules, _ = list_door_rules(session, door=door.name, limit=MAX_RULES_PER_DOOR)
    return DoorPublic(
        id=door.id,
        name=door.name,
        created_at=as_utc(door.created_at),
        rules=rules,
        former_names=former_door_names(session, door.id),
    )


def list_doors_with_rules(
    session: Session, *, offset: int = 0, limit: int = 50
) -> tuple[list[DoorPublic], int]:
    """One page of doors by name, each with its rules, and the total count."""
    total = int(session.exec(select(func.count()).select_from(Door)).one())
    rows = session.exec(select(Door).order_by(col(Door.name)).offset(offset).limit(limit)).all()
    return [_door_public(session, door) for door in rows], total


def _name_taken(session: Session, name: str, *, door_id: int | None = None) -> None:
    """Raises InvalidValue for a reserved name, Conflict when another door than `door_id` has the name now
    or had it before a rename."""
    refuse_reserved_door_name(name)
    holder = door_called(session, name)
    if holder is None or holder.id == door_id:
        return
    if holder.name == name:
        raise Conflict(f"door {name!r} already exists")
    raise Conflict(
        f"{name!r} is a former name of door {holder.name!r}: gates configured with it still open that door"
    )


def create_door(session: Session, *, name: str) -> DoorPublic:
    """Register a door (a gate set to `unknown_door: register` also registers its own on start).

    Raises:
        InvalidValue: the name is reserved (RESERVED_DOOR_NAMES).
        Conflict: a door has that name, or had it before a rename.
    """
    _name_taken(session, name)
    door = Door(name=name)
    session.add(door)
    session.flush()
    return _door_public(session, door)


def rename_door(session: Session, door_id: int, *, name: str, now: datetime) -> DoorRenamedPublic:
    """Rename a door; its rules and device keys follow, and the old name becomes a former name.

    Gates are configured with a door's name, so a gate configured with the old name keeps applying
    this door's rules under it (and warns in its log) until it is reconfigured; no other door may
    take the old name meanwhile. Renaming a door back to one of its former names is allowed. The answer
    names what knows the door by its old name: sources that audited under it since `now` less
    RENAME_LOOKBACK_DAYS, and the device keys serving it (none of either when the name is unchanged).

    Raises:
        NotFound: no such door.
        InvalidValue: the new name is reserved (RESERVED_DOOR_NAMES); a door already so called may be renamed.
        Conflict: another door has that name, or had it before a rename.
    """
    lock_gallery_version(session)
    door = session.get(Door, door_id)
    if door is None:
        raise NotFound(f"door {door_id} does not exist")
    former = door.name
    if former != name:
        _name_taken(session, name, door_id=door_id)
        session.exec(delete(DoorFormerName).where(col(DoorFormerName.name) == name))  # renamed back
        session.add(DoorFormerName(name=former, door_id=door_id))
        door.name = name
        session.add(door)
        bump_gallery_version(session)
        session.flush()
    since = now - timedelta(days=RENAME_LOOKBACK_DAYS)
    keys = session.exec(
        select(DeviceDoor.key_id).where(DeviceDoor.door_id == door_id).order_by(col(DeviceDoor.key_id))
    )
    return DoorRenamedPublic(
        **_door_public(session, door).model_dump(),
        former_name=former,
        audited_sources=door_sources(session, door=former, since=since) if former != name else [],
        device_token_ids=list(keys.all()) if former != name else [],
    )


def forget_former_door_name(session: Session, door_id: int, *, name: str) -> DoorPublic:
    """Drop a former name of a door that no event was ever audited under: gates no longer find the door
    by it, and another door may take it.

    The audit log keeps the name each event was recorded under, and a door filter finds the door's events
    under its former names; a name with events under it therefore stays the door's, so that the filter
    keeps finding them and they never read as another door's later.

    Raises:
        NotFound: no such door, or `name` is not one of its former names.
        Conflict: events were audited under `name` (the error names their sources).
    """
    lock_gallery_version(session)
    door = session.get(Door, door_id)
    if door is None:
        raise NotFound(f"door {door_id} does not exist")
    former = session.get(DoorFormerName, name)
    if former is None or former.door_id != door_id:
        raise NotFound(f"{name!r} is not a former name of door {door.name!r}")
    sources = door_sources(session, door=name, since=None)
    if sources:
        raise Conflict(
            f"events were audited under {name!r} (sources: {', '.join(sources)}): it stays a former name of "
            f"door {door.name!r}, so that the door's event filter keeps finding them"
        )
    session.delete(former)
    bump_gallery_version(session)
    session.flush()
    return _door_public(session, door)
