"""A door strike driven by a relay on a GPIO pin: energised to unlock, de-energised by a timer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

from gate.errors import ActuatorError

logger = logging.getLogger(__name__)


class RelayPin(Protocol):
    """One output pin that switches a relay; a GPIO library on the board implements it."""

    def set_high(self) -> None:
        """Energise the relay (unlock).

        Raises:
            ActuatorError: the pin could not be driven.
        """
        ...

    def set_low(self) -> None:
        """De-energise the relay (lock).

        Raises:
            ActuatorError: the pin could not be driven.
        """
        ...


class GpiozeroRelayPin:
    """A RelayPin on a Raspberry Pi through gpiozero (imported here, only when this pin is built)."""

    def __init__(self, *, pin_bcm: int, is_active_low: bool) -> None:
        try:
            from gpiozero import GPIOZeroError, OutputDevice
        except ImportError as exc:
            raise ActuatorError(
                "the gpio_relay door needs gpiozero on the board: pip install gpiozero"
            ) from exc
        self._errors: tuple[type[Exception], ...] = (GPIOZeroError, OSError)
        try:
            self._device: Any = OutputDevice(pin_bcm, active_high=not is_active_low, initial_value=False)
        except self._errors as exc:
            raise ActuatorError(f"GPIO pin {pin_bcm} could not be opened: {exc!r}") from exc

    def set_high(self) -> None:
        """Energise the relay."""
        self._drive(self._device.on)

    def set_low(self) -> None:
        """De-energise the relay."""
        self._drive(self._device.off)

    def _drive(self, action: Callable[[], None]) -> None:
        try:
            action()
        except self._errors as exc:
            raise ActuatorError(f"GPIO pin could not be driven: {exc!r}") from exc


class GpioRelayDoor:
    """Energises the relay on unlock and de-energises it `duration_s` later on a timer thread.

    `unlock` returns at once, so the gate loop never waits for the door. An unlock while the door is
    open extends the open time to the later of the two ends; it never cuts it short.
    """

    def __init__(self, pin: RelayPin, *, monotonic: Callable[[], float]) -> None:
        self._pin = pin
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._relock_at_s = float("-inf")

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        """Energise the relay and (re)schedule the relock (`unlock_id` is not needed: nothing redelivers).

        Raises:
            ActuatorError: the pin could not be driven; the relock already scheduled stays in place.
        """
        with self._lock:
            now_s = self._monotonic()
            self._pin.set_high()
            self._relock_at_s = max(self._relock_at_s, now_s + duration_s)
            self._schedule_relock(self._relock_at_s - now_s)
        logger.info("door %s relay energised for %.1f s", door, duration_s)

    def _schedule_relock(self, delay_s: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._generation += 1
        self._timer = threading.Timer(delay_s, self._relock, kwargs={"generation": self._generation})
        self._timer.daemon = True
        self._timer.start()

    def _relock(self, *, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                logger.debug("relay relock %d superseded by %d", generation, self._generation)
                return
            self._timer = None
            self._relock_at_s = float("-inf")
            self._lower()

    def _lower(self) -> None:
        try:
            self._pin.set_low()
        except ActuatorError:
            logger.exception("relay could not be de-energised: the door may still be unlocked")

    def close(self) -> None:
        """Cancel a pending relock and de-energise the relay now (lock the door)."""
        with self._lock:
            timer, self._timer = self._timer, None
            self._generation += 1
            self._relock_at_s = float("-inf")
            self._lower()
        if timer is not None:
            timer.cancel()
            timer.join()
