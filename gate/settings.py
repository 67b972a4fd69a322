"""Gate settings: the decision rule, how often the gallery is re-checked, and which door actuator runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, model_validator
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


class DatabaseGallerySourceConfig(BaseModel):
    """The gallery, rules and audit log straight from the database (FACEGATE_DATABASE_URL, master key)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["database"] = "database"


class ApiGallerySourceConfig(BaseModel):
    """An edge gate: the gallery of its own doors from the API, sealed to this device; events to the API."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["api"] = "api"
    url: AnyHttpUrl = Field(description="Base URL of the FaceGate API (https:// outside a test bench).")
    api_key: SecretStr = Field(description="This device's API key (`facegate apikeys create --role device`).")
    device_dir: Path | None = Field(
        None, description="Device key pair and sealed gallery cache; default <FACEGATE_HOME>/device."
    )
    long_poll_s: float = Field(
        20.0,
        ge=0.0,
        le=55.0,
        description="How long the API may hold a sync request open for a change (s).",
    )
    request_timeout_s: float = Field(
        45.0,
        gt=0.0,
        le=120.0,
        description="Network timeout of one request, beyond the long poll (s). Keep it above the API's "
        "database waits (FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S, FACEGATE_DATABASE_STATEMENT_TIMEOUT_S: "
        "30 s by default), after which it answers 503 with Retry-After: a shorter one gives up first.",
    )
    retry_max_s: float = Field(
        10.0, gt=0.0, le=3600.0, description="Longest wait between sync retries while the API is away (s)."
    )


GallerySourceConfig = Annotated[
    DatabaseGallerySourceConfig | ApiGallerySourceConfig, Field(discriminator="kind")
]


class DecisionSettings(BaseModel):
    """How one door decides on a track (G2); each camera's GateSettings carries its own."""

    model_config = ConfigDict(extra="forbid")
    votes_required: int = Field(3, ge=1, le=100, description="k: fresh frames of one track that must agree.")
    vote_window_frames: int = Field(
        5, ge=1, le=100, description="n: the most recent frames of a track that are counted."
    )
    max_frame_age_s: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="A live frame older than this (capture to decision, seconds) is never decided on.",
    )
    min_margin_cos: float = Field(
        0.05,
        ge=0.0,
        le=2.0,
        description="A match must beat the runner-up identity's cosine by this much, else it is ambiguous.",
    )
    confusable_margin_cos: float = Field(
        0.15,
        ge=0.0,
        le=2.0,
        description="The margin required instead when the best and runner-up identities are look-alikes "
        "(enrolled templates of the two score at or above the door's threshold together).",
    )
    min_face_quality: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Faces of lower quality (detector score × size up to 112 px) are not embedded; "
        "k such frames deny the track as low_quality.",
    )
    cooldown_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="After a decision about a person at this door, no second one for them within this (s).",
    )
    fpir_target: float | None = Field(
        1e-3,
        gt=0.0,
        lt=1.0,
        description="Open-set false-positive identification rate the threshold is set for (per search, "
        "at the current gallery size; needs a calibrated model); null: the model's default threshold.",
    )
    error_audit_interval_s: float = Field(
        30.0,
        gt=0.0,
        le=3600.0,
        description="A failure keeping the door shut (gallery, recognition) is audited at most this often.",
    )

    @model_validator(mode="after")
    def _k_within_n(self) -> DecisionSettings:
        if self.votes_required > self.vote_window_frames:
            raise ValueError("votes_required (k) must not exceed vote_window_frames (n)")
        if self.confusable_margin_cos < self.min_margin_cos:
            raise ValueError("confusable_margin_cos must not be below min_margin_cos")
        return self


PadCueName = Literal["frame_edges", "flow_planar"]
"""recognition's PAD cues (FRAME_CUES and TRACK_CUES) by name; a test keeps the two lists equal."""
PAD_CUE_NAMES: tuple[PadCueName, ...] = ("frame_edges", "flow_planar")


class DoorColourCalibration(BaseModel):
    """One colour's threshold measured on the door's own bona fide monitor events (`pad calibrate-door`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attack_threshold: float = Field(
        ge=0.0, le=1.0, description="Attack score above which PAD calls a track of this colour an attack."
    )
    event_count: int = Field(gt=0, description="Monitor events (granted by match) it was measured on.")
    first_event_at: AwareDatetime = Field(description="Time of the first of those events (UTC).")
    last_event_at: AwareDatetime = Field(description="Time of the last of those events (UTC).")


class DoorPadCalibration(BaseModel):
    """PAD thresholds measured at this door from its own monitor events, per colour of the track's frames.

    Written by `facegate pad calibrate-door`; valid only for the PAD weights and the deciding score (the
    passive mean or the card's track rule, and then that rule) they were measured with, which the gate checks
    at start-up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    pad_weights_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The PAD card's weights hash the events were scored with."
    )
    score: Literal["passive", "track_rule"] = Field(
        description="Which score the events recorded and the thresholds hold: the mean passive score or "
        "the card's track rule."
    )
    track_rule_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="With score track_rule: the rule the events were decided by (its coefficients' hash, "
        "PadTrackRule.rule_sha256); None with the passive score, and in calibrations written before it was "
        "recorded (rule unknown: a door deciding by a track rule refuses them).",
    )
    bpcer_target: float = Field(
        gt=0.0, lt=1.0, description="Share of the door's bona fide events each threshold refuses at most."
    )
    colour: DoorColourCalibration | None = Field(
        None, description="For tracks with a colour frame; None: the card's calibration holds them."
    )
    grey: DoorColourCalibration | None = Field(
        None,
        description="For tracks of grey frames only (a night/IR camera); None: the card's grey calibration, "
        "else its colour one.",
    )

    @model_validator(mode="after")
    def _one_colour_at_least(self) -> DoorPadCalibration:
        if self.colour is None and self.grey is None:
            raise ValueError("a door calibration needs a colour or a grey threshold")
        return self


class PadSettings(BaseModel):
    """One door's presentation-attack policy (each camera's GateSettings carries its own)."""

    model_config = ConfigDict(extra="forbid")
    policy: Literal["off", "monitor", "enforce"] = Field(
        "off",
        description="off: no PAD; monitor: score and record would-be verdicts, never deny; enforce: deny "
        "presentation attacks. Not off needs the PAD model (`facegate pad export`).",
    )
    bpcer_target: float = Field(
        0.01,
        gt=0.0,
        lt=1.0,
        description="Share of bona fide presentations the threshold may refuse, from the PAD calibration.",
    )
    frames_required: int = Field(
        3,
        ge=1,
        le=30,
        description="Frames of a track scored by PAD (the mean decides); later frames skip PAD.",
    )
    cues: tuple[PadCueName, ...] = Field(
        PAD_CUE_NAMES,
        description="Track cues computed and audited for every PAD decision (the PAD card's track rule "
        "adds the ones it weighs); frame cues run only on the frames PAD scores.",
    )
    allow_track_rule: bool = Field(
        True,
        description="Decide by the PAD card's fitted track rule (passive score and cues) when the card "
        "has one; otherwise, or when false, the mean passive score decides.",
    )
    door_calibration: DoorPadCalibration | None = Field(
        None,
        description="Thresholds from this door's own monitor events (`facegate pad calibrate-door`), in "
        "place of the card's for each colour it has; measured at `bpcer_target`.",
    )

    @model_validator(mode="after")
    def _door_calibration_at_the_target(self) -> PadSettings:
        calibration = self.door_calibration
        if calibration is not None and abs(calibration.bpcer_target - self.bpcer_target) > 1e-12:
            raise ValueError(
                f"door_calibration was measured at BPCER {calibration.bpcer_target:g}, the door's "
                f"bpcer_target is {self.bpcer_target:g}: calibrate the door again at its target"
            )
        return self


class GateSettings(BaseSettings):
    """Environment: FACEGATE_GATE_*, nested keys with `__` (FACEGATE_GATE_DOOR__KIND=mqtt)."""

    model_config = SettingsConfigDict(
        env_prefix="FACEGATE_GATE_", env_nested_delimiter="__", extra="forbid", env_parse_none_str="null"
    )
    decision: DecisionSettings = Field(
        default_factory=DecisionSettings, description="k-of-n, frame age, margin, cooldown and threshold."
    )
    track_iou_min: float = Field(0.3, gt=0.0, le=1.0, description="Box overlap that continues a track.")
    track_max_missed_frames: int = Field(5, ge=0, description="Frames a track survives without being seen.")
    search_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="FAISS threads for gallery searches in the gate process; 0: one per core.",
    )
    reload_threads: int = Field(
        1,
        ge=0,
        le=256,
        description="FAISS threads of the gallery reload thread (index training and adds); 0: one per "
        "core. One leaves the frame loop a core, and a team of OpenMP threads on a busy machine spins.",
    )
    gil_switch_interval_ms: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        description="Python's thread switch interval in the gate process (sys.setswitchinterval), ms: a "
        "gallery reload's Python work yields the GIL to the frame loop this often (Python's default: 5).",
    )
    gallery_poll_s: float = Field(2.0, gt=0.0, description="How often the gallery version is checked.")
    gallery_max_stale_s: float = Field(
        300.0,
        ge=0.0,
        le=86400.0,
        description="Database unreachable: decide from the last gallery for this long (s), then deny.",
    )
    journal_dir: Path | None = Field(
        None, description="Local audit journal directory; default <FACEGATE_HOME>/journal/<door>."
    )
    journal_retry_initial_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First wait before retrying audit delivery to the database, in s."
    )
    journal_retry_max_s: float = Field(
        10.0, gt=0.0, le=3600.0, description="Longest wait between audit delivery retries (doubling), in s."
    )
    journal_drain_timeout_s: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="At shutdown, how long to wait for journalled events to reach the database, in s.",
    )
    camera_timeout_s: float = Field(
        10.0, gt=0.0, le=120.0, description="Longest wait for a stream URL to open or deliver a frame, in s."
    )
    camera_reconnect_initial_s: float = Field(
        0.5, gt=0.0, le=60.0, description="First wait before reopening a dropped live source, in seconds."
    )
    camera_reconnect_max_s: float = Field(
        30.0, gt=0.0, le=3600.0, description="Longest wait between reopen attempts (doubling), in seconds."
    )
    pad: PadSettings = Field(
        default_factory=PadSettings,
        description="Presentation-attack policy of this door (off, monitor, enforce).",
    )
    door: DoorConfig = Field(
        default_factory=LogOnlyDoorConfig, description="The door actuator and its unlock time."
    )
    gallery_source: GallerySourceConfig = Field(
        default_factory=DatabaseGallerySourceConfig,
        description="Where the gallery, rules and audit log are: `database` or `api` (an edge gate).",
    )
    unknown_door: Literal["register", "refuse"] = Field(
        "refuse",
        description="A database gate whose door is no door's name, now or before a rename: `refuse` it (the "
        "default: fail closed, deny every face as unknown_door until an admin registers the door with "
        "`facegate doors create`, POST /doors or the console) or `register` it at start (without rules, so "
        "open to every enrolled person: a misspelt name opens the door; opt in only for a lab setup).",
    )

    @model_validator(mode="after")
    def _reconnect_order(self) -> GateSettings:
        if self.camera_reconnect_initial_s > self.camera_reconnect_max_s:
            raise ValueError("camera_reconnect_initial_s must not exceed camera_reconnect_max_s")
        source = self.gallery_source
        if source.kind == "api" and self.gallery_max_stale_s <= source.long_poll_s:
            raise ValueError("gallery_max_stale_s must exceed gallery_source.long_poll_s")
        return self
