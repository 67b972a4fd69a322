"""Doors known to the system; a gate registers its door on start."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.inserts import insert_if_absent
from storage.models import Door, utc_now


def ensure_door(session: Session, *, name: str) -> Door:
    """The door called `name`, registered now if it is new.

    Gates of one door may start at once: a missing door is inserted with ON CONFLICT DO NOTHING, so
    the later one waits for the earlier to commit and then reads its door instead of failing on the
    unique name.
    """
    door = session.exec(select(Door).where(Door.name == name)).first()
    if door is not None:
        return door
    insert_if_absent(session, Door, {"name": name, "created_at": utc_now()}, key=["name"])
    door = session.exec(select(Door).where(Door.name == name)).first()
    assert door is not None, "inserted just now, or by a transaction that has committed it"
    return door


def list_doors(session: Session) -> list[Door]:
    return list(session.exec(select(Door).order_by(col(Door.name))).all())
