"""Tables of door access (groups, members, weekly rules) and the public shapes of doors and rules."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import cache
from zoneinfo import available_timezones

from pydantic import field_validator, model_validator
from sqlmodel import Field, SQLModel

from storage.models import MAX_DB_INT, _utc_column, utc_now


class Weekday(StrEnum):
    """Days of a weekly access schedule, in ISO order (Monday is 1)."""

    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


class AccessGroup(SQLModel, table=True):
    """A named set of people that door access rules admit (issue 5: doors, groups, weekly schedules)."""

    __tablename__ = "access_group"
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted group's id never names a new one
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, min_length=1, max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class AccessGroupMember(SQLModel, table=True):
    """One person in one group; deleting either removes the membership."""

    __tablename__ = "access_group_member"
    group_id: int = Field(foreign_key="access_group.id", primary_key=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True, ondelete="CASCADE")


class DoorAccessRule(SQLModel, table=True):
    """Members of `group_id` may pass `door_id` on `weekdays` from start to end, local time of `timezone`.

    Minutes count from local midnight; the window is [start_minute, end_minute), inside one day.
    """

    __tablename__ = "door_access_rule"
    __table_args__ = {"sqlite_autoincrement": True}  # a deleted rule's id never names a new one
    id: int | None = Field(default=None, primary_key=True)
    door_id: int = Field(foreign_key="door.id", index=True, ondelete="CASCADE")
    group_id: int = Field(foreign_key="access_group.id", index=True, ondelete="CASCADE")
    weekdays: str = Field(max_length=7, description="ISO weekday digits, Monday 1 to Sunday 7, e.g. '12345'.")
    start_minute: int = Field(ge=0, le=1439, description="Window start, minutes after local midnight.")
    end_minute: int = Field(
        ge=1, le=1440, description="Window end (exclusive), minutes after local midnight."
    )
    timezone: str = Field(max_length=64, description="IANA time zone the window is read in.")
    created_at: datetime = Field(default_factory=utc_now, sa_column=_utc_column())


class AccessGroupPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    member_ids: list[int]


class DoorRulePublic(SQLModel):
    id: int
    door: str
    group_id: int
    weekdays: list[Weekday]
    start: str
    end: str
    timezone: str
    created_at: datetime


RENAME_LOOKBACK_DAYS = 30
"""How far back a door rename looks for gates that audited under the old name."""


class DoorPublic(SQLModel):
    id: int
    name: str
    created_at: datetime
    rules: list[DoorRulePublic] = Field(
        description="Weekly access rules; a door without rules admits everyone."
    )
    former_names: list[str] = Field(
        default_factory=list,
        description="Names the door had before a rename, oldest first. Gates and device keys configured "
        "with one still open this door, with a warning in their log, until reconfigured; no other door "
        "may take one.",
    )


class DoorRenamedPublic(DoorPublic):
    """A renamed door, and what still knows it by the name it had (`former_name`)."""

    former_name: str = Field(description="The name the door had before this rename.")
    audited_sources: list[str] = Field(
        description="Sources (cameras) that audited decisions under the former name in the last "
        f"{RENAME_LOOKBACK_DAYS} days: their gates, configured with it, keep applying this door's rules "
        "under it, with a warning in their log, until reconfigured."
    )
    device_token_ids: list[str] = Field(
        description="Token ids of the device keys serving the door: their edge gates get the former "
        "name at their next sync."
    )


@cache
def _iana_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows (read once), less `localtime`: on some systems a link to
    the machine's own zone, which a gate would read as its own zone and a machine without the link not at
    all. The `posix/` and `right/` copies that ZoneInfo also opens there are not among them."""
    return frozenset(available_timezones() - {"localtime"})


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class DoorRuleCreate(SQLModel):
    """A weekly window in which one group may pass one door; an overnight shift is two rules."""

    door: str = Field(
        min_length=1,
        max_length=100,
        description="Door name, now or a former one (the rule goes to the door it names now); a name no "
        "door has or had is refused (422) unless `create_door`.",
    )
    create_door: bool = Field(
        False,
        description="Register `door` if no door has or had that name. A misspelt name would get the rule, "
        "and the door meant would stay without it.",
    )
    group_id: int = Field(ge=1, le=MAX_DB_INT)
    weekdays: list[Weekday] = Field(min_length=1, max_length=7, description="Days the window opens.")
    start: str = Field(description="Local start time HH:MM (inclusive).")
    end: str = Field(description="Local end time HH:MM (exclusive; 24:00 is midnight at the end of the day).")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Berlin.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _iana_zones():
            raise ValueError(f"unknown time zone {value!r}: name an IANA time zone, e.g. Europe/Berlin")
        return value

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00", value) is None:
            raise ValueError(f"{value!r} is not a time HH:MM between 00:00 and 24:00")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> DoorRuleCreate:
        if self.start_minute >= self.end_minute:
            raise ValueError("start must be before end (split an overnight window into two rules)")
        return self

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)
