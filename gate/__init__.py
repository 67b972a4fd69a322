"""The gate daemon: camera frames → recognition → k-of-n decision → door and audit log."""

from gate.camera import FrameSource, ImageFolderFrameSource, OpencvFrameSource, redacted_source
from gate.decision import TrackVotes, Verdict, Vote
from gate.door import DoorActuator
from gate.doors.gpio_relay import GpioRelayDoor, GpiozeroRelayPin, RelayPin
from gate.doors.http_webhook import HttpWebhookDoor
from gate.doors.log_only import LogOnlyDoor
from gate.doors.mqtt import MqttDoor
from gate.errors import ActuatorError, CameraUnavailable, GateError
from gate.gallery import GalleryCache
from gate.registry import DOORS, build_door
from gate.settings import (
    DoorConfig,
    GateSettings,
    GpioRelayDoorConfig,
    HttpWebhookDoorConfig,
    LogOnlyDoorConfig,
    MqttDoorConfig,
)
from gate.stream import CapturedFrame, LatestFrameReader, SourceOutage, is_live_source, open_frames
from gate.tracker import IouTracker, iou
from gate.worker import CAMERA_UNAVAILABLE, GateDecision, run_gate

__all__ = [
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
