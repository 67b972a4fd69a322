"""Who may pass this door now: the door's weekly group rules, reloaded with the gallery (issue 5)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gate.errors import UnknownDoor
from storage import (
    AccessWindow,
    DoorNotFound,
    Engine,
    StorageError,
    current_door_name,
    door_access_windows,
    gallery_stamp,
    session_scope,
)

logger = logging.getLogger(__name__)


def in_window(window: AccessWindow, person_id: int, at_utc: datetime) -> bool:
    """Whether the rule admits the person at that instant (weekday and time read in the rule's zone).

    A rule whose zone this gate's time zone database lacks (a zone newer than it; `localtime`, which the
    API took before it was refused) admits no one here, with an error in the log: the person is denied
    unless another rule admits them, never a failure of the camera's worker.
    """
    if person_id not in window.person_ids:
        return False
    try:
        zone = ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # not found, not a zone key, not a zone file
        logger.error(
            "door rule %d: time zone %r is unknown to this gate's time zone database; the rule admits "
            "no one here (install a current tzdata)",
            window.rule_id,
            window.timezone,
        )
        return False
    local = at_utc.astimezone(zone)
    minute = local.hour * 60 + local.minute
    return local.isoweekday() in window.iso_weekdays and window.start_minute <= minute < window.end_minute


def warn_former_name(door: str, name: str) -> None:
    """Log that the gate's configured `door` is a former name of the door now called `name`."""
    logger.warning(
        "door %s was renamed to %s: this gate applies its rules under the former name; "
        "configure the gate with door %s",
        door,
        name,
        name,
    )


@dataclass(frozen=True)
class DoorPolicy:
    """The rules of one door. A door with no rules admits every enrolled person (`is_open`)."""

    door: str
    windows: tuple[AccessWindow, ...]

    @property
    def is_open(self) -> bool:
        return not self.windows

    def admits(self, person_id: int, at_utc: datetime) -> bool:
        """Whether an identified person may pass now."""
        return self.is_open or any(in_window(window, person_id, at_utc) for window in self.windows)


class AccessPolicyCache:
    """Reloads the door's rules when the gallery version changes, checked at most every `poll_s`.

    Access changes bump the gallery version (storage.access), so a running gate sees them as it sees
    enrollments. A failed check keeps the last policy: whether the data is too old to decide on is
    the gallery cache's call, which fails closed. Before the first successful load it raises. A door
    renamed since the gate was configured is found by its former name, with a warning; a door found by
    neither name raises UnknownDoor on every call, never an empty (open) policy.
    """

    def __init__(self, *, engine: Engine, door: str, poll_s: float, monotonic: Callable[[], float]) -> None:
        self._engine = engine
        self._door = door
        self._poll_s = poll_s
        self._monotonic = monotonic
        self._version: tuple[int, str] | None = None
        """The gallery's version and epoch at the last load (a restore changes the epoch)."""
        self._checked_at_s = float("-inf")
        self._policy: DoorPolicy | None = None
        self._is_failing = False
        self._current_name = door
        self._missing: str | None = None
        """Why the door was not found at the last check (None: it was)."""

    def current(self) -> DoorPolicy:
        """The door's policy.

        Raises:
            UnknownDoor: no door has or had the configured name (checked again every `poll_s`).
            StorageError: none was ever loaded and the database fails.
        """
        now_s = self._monotonic()
        if now_s - self._checked_at_s < self._poll_s:
            if self._missing is not None:
                raise UnknownDoor(self._missing)
            if self._policy is not None:
                return self._policy
        try:
            self._policy, self._missing = self._reload(), None
        except DoorNotFound as exc:
            if self._missing is None:
                logger.error("door %s: %s; every face is denied until it exists again", self._door, exc)
            self._policy, self._version, self._checked_at_s = None, None, now_s
            self._missing = f"door {self._door}: {exc}; every face is denied"
            raise UnknownDoor(self._missing) from exc
        except StorageError:
            if self._policy is None:
                raise
            if not self._is_failing:
                logger.warning("door %s: access rules could not be re-checked; keeping the last", self._door)
            self._is_failing = True
        else:
            if self._is_failing:
                logger.info("door %s: access rules re-checked again", self._door)
            self._is_failing = False
        self._checked_at_s = now_s
        return self._policy

    def _reload(self) -> DoorPolicy:
        with session_scope(self._engine) as session:
            version = gallery_stamp(session)
            if self._policy is not None and version == self._version:
                return self._policy
            name = current_door_name(session, self._door)
            windows = tuple(door_access_windows(session, door=name))
        if name != self._current_name and name != self._door:
            warn_former_name(self._door, name)
        self._current_name = name
        self._version = version
        policy = DoorPolicy(door=self._door, windows=windows)
        if policy.is_open and (self._policy is None or not self._policy.is_open):
            logger.warning(
                "door %s has no access rules: every enrolled person is admitted at any time", self._door
            )
        elif policy != self._policy:
            logger.info("door %s: %d access rules loaded", self._door, len(windows))
        return policy
