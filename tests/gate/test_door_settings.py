"""GateSettings.door: the environment picks the actuator kind, the registry builds it, typos fail."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gate import (
    DOORS,
    GateSettings,
    GpioRelayDoorConfig,
    HttpWebhookDoor,
    HttpWebhookDoorConfig,
    LogOnlyDoor,
    LogOnlyDoorConfig,
    MqttDoor,
    MqttDoorConfig,
    build_door,
)

PREFIX = "FACEGATE_GATE_DOOR__"


def _settings(monkeypatch: pytest.MonkeyPatch, **door: str) -> GateSettings:
    for key, value in door.items():
        monkeypatch.setenv(PREFIX + key.upper(), value)
    return GateSettings()


def _build(settings: GateSettings) -> object:
    return build_door(settings.door, utc_now=lambda: datetime.now(UTC), monotonic=time.monotonic)


def test_the_default_door_only_logs(monkeypatch) -> None:
    settings = _settings(monkeypatch)
    assert settings.door == LogOnlyDoorConfig(unlock_s=5.0)
    assert isinstance(_build(settings), LogOnlyDoor)


def test_mqtt_is_selected_and_configured_from_the_environment(monkeypatch) -> None:
    settings = _settings(
        monkeypatch, kind="mqtt", topic="site/front/unlock", port="1884", unlock_s="3", password="pw"
    )
    assert isinstance(settings.door, MqttDoorConfig)
    assert (settings.door.topic, settings.door.port, settings.door.unlock_s) == (
        "site/front/unlock",
        1884,
        3.0,
    )
    assert settings.door.password is not None and settings.door.password.get_secret_value() == "pw"
    assert "pw" not in repr(settings)
    assert isinstance(_build(settings), MqttDoor)


def test_the_webhook_is_selected_with_its_token_as_a_secret(monkeypatch) -> None:
    settings = _settings(
        monkeypatch, kind="http_webhook", url="https://door.example/unlock", timeout_s="1.5", token="t0ken"
    )
    assert isinstance(settings.door, HttpWebhookDoorConfig)
    assert str(settings.door.url) == "https://door.example/unlock" and settings.door.timeout_s == 1.5
    assert "t0ken" not in repr(settings)
    assert isinstance(_build(settings), HttpWebhookDoor)


def test_the_gpio_relay_is_selected_with_its_pin(monkeypatch) -> None:
    settings = _settings(monkeypatch, kind="gpio_relay", pin_bcm="17", is_active_low="true", unlock_s="8")
    assert settings.door == GpioRelayDoorConfig(pin_bcm=17, is_active_low=True, unlock_s=8.0)


def test_every_kind_has_a_factory() -> None:
    kinds = {
        config.model_fields["kind"].default
        for config in (LogOnlyDoorConfig, HttpWebhookDoorConfig, MqttDoorConfig, GpioRelayDoorConfig)
    }
    assert kinds == set(DOORS)


@pytest.mark.parametrize(
    ("door", "dotted_path", "message"),
    [
        ({"kind": "mqtt", "topic": "t", "tpoic": "t"}, "door.mqtt.tpoic", "Extra inputs are not permitted"),
        ({"kind": "mqtt"}, "door.mqtt.topic", "Field required"),
        ({"kind": "mqtt", "topic": "t", "port": "0"}, "door.mqtt.port", "greater than or equal to 1"),
        ({"kind": "http_webhook", "url": "file:///etc/passwd"}, "door.http_webhook.url", "URL scheme"),
        ({"kind": "log_only", "unlock_s": "0"}, "door.log_only.unlock_s", "greater than 0"),
        ({"kind": "relay"}, "door", "does not match any of the expected tags"),
    ],
)
def test_a_bad_door_setting_fails_with_its_dotted_path(monkeypatch, door, dotted_path, message) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(monkeypatch, **door)
    text = str(caught.value)
    assert f"\n{dotted_path}\n  " in text and message in text, text


def test_the_fpir_target_defaults_to_one_in_a_thousand_and_null_turns_it_off(monkeypatch) -> None:
    assert GateSettings().decision.fpir_target == 1e-3
    monkeypatch.setenv("FACEGATE_GATE_DECISION__FPIR_TARGET", "null")
    assert GateSettings().decision.fpir_target is None
    monkeypatch.setenv("FACEGATE_GATE_DECISION__FPIR_TARGET", "0.01")
    assert GateSettings().decision.fpir_target == 1e-2
