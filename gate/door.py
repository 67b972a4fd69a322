"""The door actuator protocol; implementations live in gate/doors/ and config picks one (gate/registry.py)."""

from __future__ import annotations

from typing import Protocol


class DoorActuator(Protocol):
    """Drives one door."""

    def unlock(self, *, door: str, duration_s: float) -> None:
        """Unlock the door for `duration_s` seconds, then let it lock again.

        Args:
            door: name of the door, as audited.
            duration_s: seconds the door stays unlocked.

        Raises:
            DoorUnconfirmed: the command was sent but not confirmed in time: the door may have opened.
            ActuatorError: the command never left (hardware, network or broker failure): the door is shut.
        """
        ...

    def close(self) -> None:
        """Release what the actuator holds (timers, pins) and leave the door locked; safe to call twice."""
        ...
