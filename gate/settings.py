"""Gate settings: the decision rule, how often the gallery is re-checked, and which door actuator runs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

UnlockSeconds = Annotated[
    float, Field(gt=0.0, le=600.0, description="How long this door stays unlocked after a grant, in seconds.")
]
TimeoutSeconds = Annotated[
    float, Field(gt=0.0, le=60.0, description="Longest wait for the door to confirm, in seconds.")
]


class LogOnlyDoorConfig(BaseModel):
    """Logs unlocks and drives nothing (the default: dry runs and the demo)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["log_only"] = "log_only"
    unlock_s: UnlockSeconds = 5.0


class HttpWebhookDoorConfig(BaseModel):
    """POSTs a JSON unlock request to a URL; any answer but 2xx is a failure."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["http_webhook"] = "http_webhook"
    unlock_s: UnlockSeconds = 5.0
    url: AnyHttpUrl = Field(description="http(s) URL that receives the POST.")
    timeout_s: TimeoutSeconds = 2.0
    token: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer <token>` when set.")


class MqttDoorConfig(BaseModel):
    """Publishes a JSON unlock message at QoS 1 and waits for the broker's acknowledgement."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["mqtt"] = "mqtt"
    unlock_s: UnlockSeconds = 5.0
    host: str = Field("127.0.0.1", min_length=1, description="MQTT broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="MQTT broker TCP port.")
    topic: str = Field(min_length=1, description="Topic the unlock message is published to.")
    timeout_s: TimeoutSeconds = 2.0
    username: str | None = Field(None, description="Broker user name, if the broker requires one.")
    password: SecretStr | None = Field(None, description="Broker password (with `username`).")


class GpioRelayDoorConfig(BaseModel):
    """Energises a relay on a GPIO pin (gpiozero on a Raspberry Pi) and de-energises it after unlock_s."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["gpio_relay"] = "gpio_relay"
    unlock_s: UnlockSeconds = 5.0
    pin_bcm: int = Field(ge=0, le=53, description="GPIO pin driving the relay, in BCM numbering.")
    is_active_low: bool = Field(False, description="The relay board energises when the pin is low.")


DoorConfig = Annotated[
    LogOnlyDoorConfig | HttpWebhookDoorConfig | MqttDoorConfig | GpioRelayDoorConfig,
    Field(discriminator="kind"),
]


class GateSettings(BaseSettings):
    """Environment: FACEGATE_GATE_*, nested keys with `__` (FACEGATE_GATE_DOOR__KIND=mqtt)."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_GATE_", env_nested_delimiter="__", extra="forbid")
    votes_required: int = Field(
        3, ge=1, description="k: frames of one track that must agree before deciding."
    )
    vote_window_frames: int = Field(
        5, ge=1, description="n: the most recent frames of a track that are counted."
    )
    track_iou_min: float = Field(0.3, gt=0.0, le=1.0, description="Box overlap that continues a track.")
    track_max_missed_frames: int = Field(5, ge=0, description="Frames a track survives without being seen.")
    gallery_poll_s: float = Field(2.0, gt=0.0, description="How often the gallery version is checked.")
    camera_timeout_s: float = Field(
        10.0, gt=0.0, le=120.0, description="Longest wait for a stream URL to open or deliver a frame, in s."
    )
    camera_reconnect_initial_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First wait before reopening a dropped live source, in seconds."
    )
    camera_reconnect_max_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="Longest wait between reopen attempts (doubling), in seconds."
    )
    door: DoorConfig = Field(
        default_factory=LogOnlyDoorConfig, description="The door actuator and its unlock time."
    )

    @model_validator(mode="after")
    def _k_within_n(self) -> GateSettings:
        if self.votes_required > self.vote_window_frames:
            raise ValueError("votes_required (k) must not exceed vote_window_frames (n)")
        if self.camera_reconnect_initial_s > self.camera_reconnect_max_s:
            raise ValueError("camera_reconnect_initial_s must not exceed camera_reconnect_max_s")
        return self
