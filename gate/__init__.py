"""The gate daemon: camera frames → recognition → k-of-n decision → door and audit log."""

from gate.access_policy import AccessPolicyCache, DoorPolicy, in_window
from gate.camera import FrameSource, ImageFolderFrameSource, OpencvFrameSource, redacted_source
from gate.config_file import CameraSpec, ConfigFileError, DaemonSettings, GatesConfig, load_gates_file
from gate.daemon import GateDaemon, GracefulStop, StopRequested
from gate.decision import (
    AMBIGUOUS,
    CAMERA_UNAVAILABLE,
    DOOR_ERROR,
    GALLERY_EMPTY,
    GALLERY_UNAVAILABLE,
    LOW_QUALITY,
    MATCH,
    NOT_AUTHORISED,
    RECOGNITION_ERROR,
    UNKNOWN,
    UNKNOWN_MODEL,
    Cooldowns,
    RateLimiter,
    TrackVotes,
    Verdict,
    Vote,
    cast_vote,
    describe_rule,
    face_quality,
)
from gate.delivery import JournalDeliverer
from gate.door import DoorActuator
from gate.doors.gpio_relay import GpioRelayDoor, GpiozeroRelayPin, RelayPin
from gate.doors.http_webhook import HttpWebhookDoor
from gate.doors.log_only import LogOnlyDoor
from gate.doors.mqtt import MqttDoor
from gate.errors import (
    ActuatorError,
    CameraUnavailable,
    GalleryStale,
    GateError,
    JournalCorrupt,
    JournalError,
    JournalLocked,
    ThresholdUnavailable,
)
from gate.gallery import GalleryCache
from gate.health import HealthBoard, MonitoringServer
from gate.journal import EventJournal, JournalEntry, default_journal_dir
from gate.logging_format import JsonLinesFormatter, configure_gate_logging
from gate.metrics import (
    CameraProbe,
    DecisionMade,
    FrameSeen,
    GateMetrics,
    OutageSeen,
    StageTimed,
    Telemetry,
    TelemetryEvent,
    WorkerRestarted,
    fan_out,
)
from gate.registry import DOORS, build_door
from gate.settings import (
    DecisionSettings,
    DoorConfig,
    GateSettings,
    GpioRelayDoorConfig,
    HttpWebhookDoorConfig,
    LogOnlyDoorConfig,
    MqttDoorConfig,
)
from gate.stream import CapturedFrame, LatestFrameReader, SourceOutage, is_live_source, open_frames
from gate.threshold import DoorThreshold, door_operating_threshold
from gate.tracker import IouTracker, iou
from gate.worker import GateDecision, run_gate

__all__ = [
    "AMBIGUOUS",
    "DOOR_ERROR",
    "GALLERY_EMPTY",
    "GALLERY_UNAVAILABLE",
    "LOW_QUALITY",
    "MATCH",
    "NOT_AUTHORISED",
    "RECOGNITION_ERROR",
    "UNKNOWN",
    "UNKNOWN_MODEL",
    "AccessPolicyCache",
    "Cooldowns",
    "DecisionSettings",
    "DoorPolicy",
    "DoorThreshold",
    "ThresholdUnavailable",
    "RateLimiter",
    "cast_vote",
    "describe_rule",
    "door_operating_threshold",
    "face_quality",
    "in_window",
    "CameraProbe",
    "CameraSpec",
    "ConfigFileError",
    "DaemonSettings",
    "DecisionMade",
    "FrameSeen",
    "GateDaemon",
    "GateMetrics",
    "GatesConfig",
    "GracefulStop",
    "HealthBoard",
    "JsonLinesFormatter",
    "MonitoringServer",
    "OutageSeen",
    "StageTimed",
    "StopRequested",
    "Telemetry",
    "TelemetryEvent",
    "WorkerRestarted",
    "configure_gate_logging",
    "fan_out",
    "load_gates_file",
    "default_journal_dir",
    "JournalLocked",
    "JournalError",
    "JournalEntry",
    "JournalDeliverer",
    "JournalCorrupt",
    "GalleryStale",
    "EventJournal",
    "CAMERA_UNAVAILABLE",
    "DOORS",
    "ActuatorError",
    "CameraUnavailable",
    "CapturedFrame",
    "DoorActuator",
    "DoorConfig",
    "FrameSource",
    "GalleryCache",
    "GateDecision",
    "GateError",
    "GateSettings",
    "GpioRelayDoor",
    "GpioRelayDoorConfig",
    "GpiozeroRelayPin",
    "HttpWebhookDoor",
    "HttpWebhookDoorConfig",
    "ImageFolderFrameSource",
    "IouTracker",
    "LatestFrameReader",
    "LogOnlyDoor",
    "LogOnlyDoorConfig",
    "MqttDoor",
    "MqttDoorConfig",
    "OpencvFrameSource",
    "RelayPin",
    "SourceOutage",
    "TrackVotes",
    "Verdict",
    "Vote",
    "build_door",
    "iou",
    "is_live_source",
    "open_frames",
    "run_gate",
    "redacted_source",
]
