"""Door actuators. Only the log-only door exists yet; relays, webhooks and MQTT arrive with issue 5."""

from __future__ import annotations

import logging
from typing import Protocol

logger = logging.getLogger(__name__)


class DoorActuator(Protocol):
    """Drives one door."""

    def unlock(self, *, door: str, duration_s: float) -> None:
        """Unlock for `duration_s` seconds; raises ActuatorError when the hardware fails."""
        ...


class LogOnlyDoor:
    """Logs the unlock instead of driving hardware (dry run, demo)."""

    def unlock(self, *, door: str, duration_s: float) -> None:
        logger.info("door %s unlocked for %.1f s", door, duration_s)
