"""Configuration picks the door actuator: kind → factory, in a plain dict (A7)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gate.door import DoorActuator
from gate.doors.gpio_relay import GpioRelayDoor, GpiozeroRelayPin
from gate.doors.http_webhook import HttpWebhookDoor
from gate.doors.log_only import LogOnlyDoor
from gate.doors.mqtt import MqttDoor
from gate.settings import (
    DoorConfig,
    GpioRelayDoorConfig,
    HttpWebhookDoorConfig,
    LogOnlyDoorConfig,
    MqttDoorConfig,
)

UtcNow = Callable[[], datetime]
Monotonic = Callable[[], float]


def _log_only(config: LogOnlyDoorConfig, utc_now: UtcNow, monotonic: Monotonic) -> DoorActuator:
    return LogOnlyDoor()


def _http_webhook(config: HttpWebhookDoorConfig, utc_now: UtcNow, monotonic: Monotonic) -> DoorActuator:
    return HttpWebhookDoor(
        url=str(config.url), timeout_s=config.timeout_s, token=config.token, utc_now=utc_now
    )


def _mqtt(config: MqttDoorConfig, utc_now: UtcNow, monotonic: Monotonic) -> DoorActuator:
    return MqttDoor(
        host=config.host,
        port=config.port,
        topic=config.topic,
        timeout_s=config.timeout_s,
        username=config.username,
        password=config.password,
        utc_now=utc_now,
        monotonic=monotonic,
    )


def _gpio_relay(config: GpioRelayDoorConfig, utc_now: UtcNow, monotonic: Monotonic) -> DoorActuator:
    pin = GpiozeroRelayPin(pin_bcm=config.pin_bcm, is_active_low=config.is_active_low)
    return GpioRelayDoor(pin, monotonic=monotonic)


DOORS: dict[str, Callable[..., DoorActuator]] = {
    "log_only": _log_only,
    "http_webhook": _http_webhook,
    "mqtt": _mqtt,
    "gpio_relay": _gpio_relay,
}


def build_door(config: DoorConfig, *, utc_now: UtcNow, monotonic: Monotonic) -> DoorActuator:
    """Build the configured door actuator.

    Args:
        config: the door's settings (`GateSettings.door`).
        utc_now: timezone-aware UTC wall clock, stamped into webhook and MQTT messages.
        monotonic: clock for timeouts and relay timing, in seconds.

    Raises:
        ActuatorError: the actuator's hardware cannot be opened (a GPIO pin, gpiozero missing).
    """
    return DOORS[config.kind](config, utc_now, monotonic)
