"""The gate daemon: camera frames → recognition → k-of-n decision → door and audit log."""

from gate.camera import FrameSource, OpencvFrameSource
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
from gate.tracker import IouTracker, iou
from gate.worker import GateDecision, run_gate

__all__ = [
    "DOORS",
    "ActuatorError",
    "CameraUnavailable",
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
    "IouTracker",
    "LogOnlyDoor",
    "LogOnlyDoorConfig",
    "MqttDoor",
    "MqttDoorConfig",
    "OpencvFrameSource",
    "RelayPin",
    "TrackVotes",
    "Verdict",
    "Vote",
    "build_door",
    "iou",
    "run_gate",
]
