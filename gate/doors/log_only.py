"""A door that only logs: dry runs and the demo."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class LogOnlyDoor:
    """Logs the unlock instead of driving hardware (dry run, demo)."""

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        """Log the unlock; never fails."""
        logger.info("door %s unlocked for %.1f s (log only)", door, duration_s)

    def close(self) -> None:
        """Nothing to release."""
