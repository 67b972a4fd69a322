"""Tables of edge devices: the doors a device key serves and the public key each device registered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from storage.models import _utc_column, utc_now


class DeviceDoor(SQLModel, table=True):
    """A door that a device API key serves: its gate gets the gallery of these doors only."""

    __tablename__ = "device_door"
    key_id: str = Field(foreign_key="api_key.key_id", primary_key=True, max_length=32, ondelete="CASCADE")
    door_id: int = Field(foreign_key="door.id", primary_key=True, ondelete="CASCADE")


class Device(SQLModel, table=True):
    """The X25519 public key a device registered with its API key; galleries are sealed to it."""

    __tablename__ = "device"
    key_id: str = Field(foreign_key="api_key.key_id", primary_key=True, max_length=32, ondelete="CASCADE")
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    registered_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class DevicePublic(SQLModel):
    """A registered device as the API shows it (its public key is public)."""

    token_id: str
    doors: list[str]
    registered_at: datetime | None
