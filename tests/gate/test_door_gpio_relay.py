"""GpioRelayDoor over a RecordingRelayPin: energise, de-energise on a timer thread, extend, close."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.util import find_spec

import pytest

from gate import ActuatorError, GpioRelayDoor, GpioRelayDoorConfig, build_door
from tests.fakes import RecordingRelayPin

WAIT_S = 5.0

UNLOCK_ID = "0b5c1f6e-8a3d-4c2b-9f1e-2d7a6c4b3e10"


@pytest.fixture
def pin() -> RecordingRelayPin:
    return RecordingRelayPin()


@pytest.fixture
def relay(pin: RecordingRelayPin) -> Iterator[GpioRelayDoor]:
    door = GpioRelayDoor(pin, monotonic=time.monotonic)
    try:
        yield door
    finally:
        door.close()


def _levels(pin: RecordingRelayPin) -> list[str]:
    return [level for level, _ in pin.levels]


def test_unlock_energises_at_once_and_de_energises_after_the_duration(relay, pin) -> None:
    started_s = time.monotonic()
    relay.unlock(door="front", duration_s=0.1, unlock_id=UNLOCK_ID)
    returned_s = time.monotonic()

    assert _levels(pin) == ["high"]
    assert returned_s - started_s < 0.05, "unlock must not block the gate loop"
    assert pin.lowered.wait(WAIT_S)
    assert _levels(pin) == ["high", "low"]
    (_, high_s), (_, low_s) = pin.levels
    assert low_s - high_s >= 0.1


def test_a_second_unlock_while_open_extends_the_open_time(relay, pin) -> None:
    relay.unlock(door="front", duration_s=0.1, unlock_id=UNLOCK_ID)
    relay.unlock(door="front", duration_s=0.4, unlock_id=UNLOCK_ID)

    assert pin.lowered.wait(WAIT_S)
    assert _levels(pin) == ["high", "high", "low"]
    (_, first_high_s), (_, second_high_s), (_, low_s) = pin.levels
    assert low_s - second_high_s >= 0.4


def test_a_shorter_second_unlock_does_not_cut_the_open_time_short(relay, pin) -> None:
    relay.unlock(door="front", duration_s=0.4, unlock_id=UNLOCK_ID)
    relay.unlock(door="front", duration_s=0.05, unlock_id=UNLOCK_ID)

    assert not pin.lowered.wait(0.2), "the relay dropped before the first unlock's 0.4 s were over"
    assert pin.lowered.wait(WAIT_S)
    assert _levels(pin) == ["high", "high", "low"]
    (_, first_high_s), _, (_, low_s) = pin.levels
    assert low_s - first_high_s >= 0.4


def test_close_de_energises_at_once_and_cancels_the_timer(pin) -> None:
    relay = GpioRelayDoor(pin, monotonic=time.monotonic)
    relay.unlock(door="front", duration_s=30.0, unlock_id=UNLOCK_ID)
    relay.close()
    relay.close()

    assert _levels(pin) == ["high", "low", "low"]


class FakeDeadPin:
    """A RelayPin whose GPIO line cannot be driven."""

    def set_high(self) -> None:
        raise ActuatorError("GPIO pin could not be driven")

    def set_low(self) -> None:
        raise ActuatorError("GPIO pin could not be driven")


def test_a_pin_that_cannot_be_driven_raises_actuator_error() -> None:
    relay = GpioRelayDoor(FakeDeadPin(), monotonic=time.monotonic)
    with pytest.raises(ActuatorError, match="GPIO pin"):
        relay.unlock(door="front", duration_s=1.0, unlock_id=UNLOCK_ID)
    relay.close()


@pytest.mark.skipif(
    find_spec("gpiozero") is not None, reason="gpiozero is installed: no missing-package error"
)
def test_the_gpio_relay_factory_names_the_package_to_install_when_gpiozero_is_missing() -> None:
    config = GpioRelayDoorConfig(pin_bcm=17)
    with pytest.raises(ActuatorError, match="pip install gpiozero"):
        build_door(config, utc_now=lambda: datetime.now(UTC), monotonic=time.monotonic)
