"""The door actuator protocol and the unlock message of networked doors (implementations: gate/doors/)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Protocol


class DoorActuator(Protocol):
    """Drives one door."""

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        """Unlock the door for `duration_s` seconds, then let it lock again.

        Args:
            door: name of the door, as audited.
            duration_s: seconds the door stays unlocked.
            unlock_id: this unlock's unique id (a UUID), the `event_uid` of the grant's audit event; sent
                to a controller so that it can drop a second delivery of the same unlock (MQTT QoS 1).

        Raises:
            DoorUnconfirmed: the command was sent but not confirmed in time: the door may have opened.
            ActuatorError: the command never left (hardware, network or broker failure): the door is shut.
        """
        ...

    def close(self) -> None:
        """Release what the actuator holds (timers, pins) and leave the door locked; safe to call twice."""
        ...


def unlock_message(*, door: str, duration_s: float, at: datetime, unlock_id: str) -> bytes:
    """The JSON a networked door sends (MQTT payload, webhook body): door, action, duration_s, at (ISO 8601)
    and unlock_id, by which a controller drops a second delivery of the same unlock."""
    body = {
        "door": door,
        "action": "unlock",
        "duration_s": duration_s,
        "at": at.isoformat(),
        "unlock_id": unlock_id,
    }
    return json.dumps(body).encode()
