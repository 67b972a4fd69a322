"""The gate daemon: camera frames → recognition → k-of-n decision → door and audit log."""

from gate.camera import FrameSource, OpencvFrameSource
from gate.decision import TrackVotes, Verdict, Vote
from gate.door import DoorActuator, LogOnlyDoor
from gate.errors import ActuatorError, CameraUnavailable, GateError
from gate.gallery import GalleryCache
from gate.settings import GateSettings
from gate.tracker import IouTracker, iou
from gate.worker import GateDecision, run_gate

__all__ = [
    "ActuatorError",
    "CameraUnavailable",
    "DoorActuator",
    "FrameSource",
    "GalleryCache",
    "GateDecision",
    "GateError",
    "GateSettings",
    "IouTracker",
    "LogOnlyDoor",
    "OpencvFrameSource",
    "TrackVotes",
    "Verdict",
    "Vote",
    "iou",
    "run_gate",
]
