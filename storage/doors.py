"""Doors: registered by an admin (or by a gate set to register its own), found by a former name too."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sqlmodel import Session, col, select

from storage.errors import DoorNotFound, InvalidValue
from storage.inserts import insert_if_absent
from storage.models import Door, DoorFormerName, utc_now

API_AUDIT_DOOR: Final = "api"
"""The `door` of the audit events the API writes itself (failed API and console sign-ins)."""
ERASURE_DOOR: Final = "people"
"""The `door` of an erasure's event: the register of people, no door of a building."""
RESERVED_DOOR_NAMES: Final = {API_AUDIT_DOOR: "failed API and console sign-ins", ERASURE_DOOR: "erasures"}
"""The audit log's own door names, and what it records under each: no door may be given one, or its gates'
events would read as these (names compare exactly, as stored)."""


def refuse_reserved_door_name(name: str) -> None:
    """The one check every way of naming a door goes through (create, rename, registration by a gate or
    a rule or a device key).

    Raises:
        InvalidValue: `name` is one of RESERVED_DOOR_NAMES.
    """
    if name in RESERVED_DOOR_NAMES:
        raise InvalidValue(
            f"door name {name!r} is reserved: the audit log records {RESERVED_DOOR_NAMES[name]} under it"
        )


def door_called(session: Session, name: str) -> Door | None:
    """The door named `name` now or, after a rename, the door that had that name; None when neither."""
    door = session.exec(select(Door).where(Door.name == name)).first()
    if door is not None:
        return door
    former = session.get(DoorFormerName, name)
    return None if former is None else session.get(Door, former.door_id)


def current_door_name(session: Session, name: str) -> str:
    """The name now of the door called `name` (itself, or the new name after a rename).

    Raises:
        DoorNotFound: no door has or had that name.
    """
    door = door_called(session, name)
    if door is None:
        raise DoorNotFound(f"no door is called {name!r}, now or before a rename")
    return door.name


def former_door_names(session: Session, door_id: int) -> list[str]:
    """The names the door had before its renames, oldest first."""
    rows = session.exec(
        select(DoorFormerName.name)
        .where(DoorFormerName.door_id == door_id)
        .order_by(col(DoorFormerName.renamed_at), col(DoorFormerName.name))
    )
    return list(rows.all())


def names_of_door_called(session: Session, name: str) -> list[str]:
    """`name` and every other name of the door called `name` now or formerly (its name now, its former
    names), sorted; only `name` when no door has or had it. For text columns that record a door by the
    name it had then (the audit log's `door`): `IN` these names finds the door's rows, by index, with the
    planner's estimate for each name (a subquery in the `IN` scanned the whole log on PostgreSQL)."""
    door = door_called(session, name)
    if door is None:
        return [name]
    assert door.id is not None, "a stored door has an id"
    return sorted({name, door.name, *former_door_names(session, door.id)})


def former_names_of(session: Session, doors: Collection[str]) -> dict[str, str]:
    """Former name → name now, of these doors (by their names now)."""
    rows = session.exec(
        select(DoorFormerName.name, Door.name)
        .join(Door, col(Door.id) == col(DoorFormerName.door_id))
        .where(col(Door.name).in_(list(doors)))
    )
    return dict(rows.all())


def ensure_door(session: Session, *, name: str) -> Door:
    """The door called `name` (or that was, before a rename), registered now if it is new.

    Raises:
        InvalidValue: a new door's name is reserved (refuse_reserved_door_name).

    Gates of one door may start at once: a missing door is inserted with ON CONFLICT DO NOTHING, so
    the later one waits for the earlier to commit and then reads its door instead of failing on the
    unique name.
    """
    door = door_called(session, name)
    if door is not None:
        return door
    refuse_reserved_door_name(name)
    insert_if_absent(session, Door, {"name": name, "created_at": utc_now()}, key=["name"])
    door = session.exec(select(Door).where(Door.name == name)).first()
    assert door is not None, "inserted just now, or by a transaction that has committed it"
    return door


def refuse_unknown_doors(session: Session, names: Collection[str], *, to_create: str) -> None:
    """Refuse names that no door has or had, before a write would register them as new doors.

    A new door has no rules, so it admits every enrolled person: a misspelt name registered on the fly
    opens a phantom door and leaves the intended one without what was meant for it. `to_create` says how
    the caller's surface asks for the door to be registered all the same (its explicit opt-in).

    Raises:
        DoorNotFound: naming each unknown name, how to register the door, and `to_create`.
    """
    unknown = sorted({name for name in names if door_called(session, name) is None})
    if unknown:
        listed = " or ".join(repr(name) for name in unknown)
        raise DoorNotFound(
            f"no door is called {listed}, now or before a rename: register the door first (facegate doors "
            f"create, POST /doors or the console's Access page), or {to_create}"
        )


def list_doors(session: Session) -> list[Door]:
    return list(session.exec(select(Door).order_by(col(Door.name))).all())
