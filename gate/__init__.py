"""The gate daemon: camera frames → recognition → k-of-n decision → door and audit log."""

from gate.access_policy import AccessPolicyCache, DoorPolicy, in_window
from gate.app import (
    decision_line,
    describe,
    gate_decisions,
    set_process_threading,
)
from gate.camera import FrameSource, OpencvFrameSource, redacted_source
from gate.config_check import check_gate_config
from gate.config_file import (
    GATE_PREFIXES,
    GATE_PROCESS_SETTINGS,
    CameraSpec,
    ConfigFileError,
    DaemonSettings,
    load_gates_file,
)
from gate.daemon import GateDaemon, GracefulStop, StopRequested
from gate.decision import (
    AMBIGUOUS,
    CAMERA_UNAVAILABLE,
    LOW_QUALITY,
    UNKNOWN,
    Cooldowns,
    RateLimiter,
    TrackVotes,
    Vote,
    cast_vote,
    describe_rule,
    face_quality,
)
from gate.delivery import EventSink, JournalDeliverer, database_sink
from gate.door import DoorActuator
from gate.doors.gpio_relay import GpioRelayDoor, RelayPin
from gate.doors.http_webhook import HttpWebhookDoor
from gate.doors.log_only import LogOnlyDoor
from gate.doors.mqtt import MqttDoor
from gate.edge import ApiGallerySource, held_templates
from gate.errors import (
    ActuatorError,
    CameraStalled,
    CameraUnavailable,
    DeviceRefused,
    DoorCalibrationRefused,
    DoorUnconfirmed,
    GalleryStale,
    GateError,
    JournalCorrupt,
    JournalError,
    JournalLocked,
    NoAnswerInTime,
    ServerUnavailable,
    ThresholdUnavailable,
    UnknownCamera,
    UnknownDoor,
    UpstreamUnavailable,
)
from gate.gallery import GalleryCache
from gate.gallery_source import GateUpstream
from gate.health import HealthBoard, MonitoringServer
from gate.journal import EventJournal, default_journal_dir
from gate.loop_io import GateDecision
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
from gate.pad import PAD_FACE_TOO_CLOSE, PRESENTATION_ATTACK
from gate.pad_calibration import (
    MIN_REFUSED_EVENTS,
    CameraResult,
    ColourResult,
    DoorCalibrationResult,
    calibrate_door,
    min_events,
)
from gate.pad_camera_selection import (
    CameraSelection,
    camera_pad_settings,
    cameras_calibrated_apart,
    door_pad_settings,
)
from gate.pad_door_attacks import WEAKER_PAD_APCER_POINTS, AttackComparison, SpeciesApcer
from gate.pad_monitor_events import MonitorScore, monitor_scores
from gate.registry import DOORS, build_door
from gate.runtime import GateRuntime, build_gate_runtime, gallery_source_for
from gate.settings import (
    PAD_CUE_NAMES,
    ApiGallerySourceConfig,
    DecisionSettings,
    DoorColourCalibration,
    DoorPadCalibration,
    GateSettings,
    GpioRelayDoorConfig,
    HttpWebhookDoorConfig,
    LogOnlyDoorConfig,
    MqttDoorConfig,
    PadSettings,
)
from gate.stream import CapturedFrame, LatestFrameReader, SourceOutage, is_live_source, open_frames
from gate.threshold import door_operating_threshold
from gate.tracker import IouTracker, iou
from gate.worker import run_gate

__all__ = [
    "MIN_REFUSED_EVENTS",
    "CameraResult",
    "ColourResult",
    "AttackComparison",
    "SpeciesApcer",
    "WEAKER_PAD_APCER_POINTS",
    "DoorCalibrationRefused",
    "UnknownCamera",
    "CameraSelection",
    "camera_pad_settings",
    "cameras_calibrated_apart",
    "DoorCalibrationResult",
    "DoorColourCalibration",
    "DoorPadCalibration",
    "calibrate_door",
    "door_pad_settings",
    "min_events",
    "monitor_scores",
    "PAD_FACE_TOO_CLOSE",
    "PRESENTATION_ATTACK",
    "PAD_CUE_NAMES",
    "PadSettings",
    "GateUpstream",
    "held_templates",
    "ApiGallerySource",
    "ApiGallerySourceConfig",
    "DeviceRefused",
    "UnknownDoor",
    "EventSink",
    "UpstreamUnavailable",
    "ServerUnavailable",
    "NoAnswerInTime",
    "database_sink",
    "GateRuntime",
    "build_gate_runtime",
    "check_gate_config",
    "decision_line",
    "describe",
    "gate_decisions",
    "gallery_source_for",
    "set_process_threading",
    "AMBIGUOUS",
    "LOW_QUALITY",
    "UNKNOWN",
    "AccessPolicyCache",
    "Cooldowns",
    "DecisionSettings",
    "DoorPolicy",
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
    "GATE_PREFIXES",
    "GATE_PROCESS_SETTINGS",
    "DecisionMade",
    "FrameSeen",
    "GateDaemon",
    "GateMetrics",
    "GracefulStop",
    "HealthBoard",
    "MonitorScore",
    "MonitoringServer",
    "OutageSeen",
    "StageTimed",
    "StopRequested",
    "Telemetry",
    "TelemetryEvent",
    "WorkerRestarted",
    "fan_out",
    "load_gates_file",
    "default_journal_dir",
    "JournalLocked",
    "JournalError",
    "JournalDeliverer",
    "JournalCorrupt",
    "GalleryStale",
    "EventJournal",
    "CAMERA_UNAVAILABLE",
    "DOORS",
    "ActuatorError",
    "DoorUnconfirmed",
    "CameraStalled",
    "CameraUnavailable",
    "CapturedFrame",
    "DoorActuator",
    "FrameSource",
    "GalleryCache",
    "GateDecision",
    "GateError",
    "GateSettings",
    "GpioRelayDoor",
    "GpioRelayDoorConfig",
    "HttpWebhookDoor",
    "HttpWebhookDoorConfig",
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
    "Vote",
    "build_door",
    "iou",
    "is_live_source",
    "open_frames",
    "run_gate",
    "redacted_source",
]
