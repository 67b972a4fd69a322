"""Doors known to the system; a gate registers its door on start."""

from __future__ import annotations

from sqlmodel import Session, col, select

from storage.models import Door


def ensure_door(session: Session, *, name: str) -> Door:
    door = session.exec(select(Door).where(Door.name == name)).first()
    if door is None:
        door = Door(name=name)
        session.add(door)
        session.flush()
    return door


def list_doors(session: Session) -> list[Door]:
    return list(session.exec(select(Door).order_by(col(Door.name))).all())
