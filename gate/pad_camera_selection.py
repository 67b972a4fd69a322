"""Whose monitor events and PAD settings a door calibration takes: the whole door's, or one camera's.

A door calibration pools every camera of the door, so their PAD settings must agree. One camera that differs
(a backlit entrance, another lens) is calibrated apart (`pad calibrate-door --camera NAME`): from its own
events only, under its own settings in the gates file, whatever the door's other cameras hold. Each camera's
gate loads its own `settings:`, so a block pasted under one camera's holds for that camera alone.

An event records its camera as its source as audited (`redacted_source`: a stream URL's password replaced by
`***`), not as the gates file names it; a camera is picked by either, and its events by the audited source.
Two cameras of one door whose sources are audited alike cannot be told apart in the log, and refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gate.camera import redacted_source
from gate.config_file import CameraSpec
from gate.errors import DoorCalibrationRefused, UnknownCamera
from gate.settings import PadSettings


@dataclass(frozen=True)
class CameraSelection:
    """One camera of a door in the gates file: its name there and its source as audited (its events')."""

    name: str
    source: str


def _door_cameras(cameras: Sequence[CameraSpec], door: str) -> list[CameraSpec]:
    """The door's cameras in the gates file.

    Raises:
        DoorCalibrationRefused: none.
    """
    found = [camera for camera in cameras if camera.door == door]
    if not found:
        doors = sorted({camera.door for camera in cameras})
        raise DoorCalibrationRefused(
            f"no camera of door {door!r} in the gates file (doors: {', '.join(doors)})"
        )
    return found


def _named(cameras: Sequence[CameraSpec]) -> str:
    """'lobby-cam (replay:lobby), side-cam (rtsp://user:***@host/side)': names and audited sources."""
    return ", ".join(f"{camera.name} ({redacted_source(camera.source)})" for camera in cameras)


def door_pad_settings(cameras: Sequence[CameraSpec], door: str) -> PadSettings:
    """The PAD settings of the cameras of `door` in a gates file (one calibration serves them all).

    Raises:
        DoorCalibrationRefused: no camera of that door, or its cameras' PAD settings (policy and door
            calibration aside) differ: one calibration cannot hold for them all.
    """
    found = _door_cameras(cameras, door)
    compared = [camera.settings.pad.model_dump(exclude={"policy", "door_calibration"}) for camera in found]
    if any(other != compared[0] for other in compared[1:]):
        raise DoorCalibrationRefused(
            f"the cameras of door {door!r} have different pad settings; give them the same before "
            "calibrating the door, or calibrate each camera apart with --camera NAME "
            f"(cameras: {_named(found)})"
        )
    return found[0].settings.pad


def cameras_calibrated_apart(cameras: Sequence[CameraSpec], door: str) -> tuple[str, ...]:
    """The door's camera names when they hold different door calibrations (one was calibrated apart with
    --camera, or none): a door-wide block pasted under each camera replaces them all; () when they agree.

    Raises:
        DoorCalibrationRefused: no camera of that door.
    """
    found = _door_cameras(cameras, door)
    calibrations = [camera.settings.pad.door_calibration for camera in found]
    if all(calibration == calibrations[0] for calibration in calibrations[1:]):
        return ()
    return tuple(camera.name for camera in found)


def camera_pad_settings(
    cameras: Sequence[CameraSpec], door: str, camera: str
) -> tuple[CameraSelection, PadSettings]:
    """The camera of `door` named `camera` in the gates file (else the one whose source is audited as
    `camera`) and its own PAD settings; the door's other cameras' settings do not matter.

    Raises:
        DoorCalibrationRefused: no camera of that door, or another camera of the door is audited under the
            same source (their events cannot be told apart).
        UnknownCamera: the door has no such camera; the message names its cameras.
    """
    found = _door_cameras(cameras, door)
    chosen = next((c for c in found if c.name == camera), None)
    chosen = chosen or next((c for c in found if redacted_source(c.source) == camera), None)
    if chosen is None:
        raise UnknownCamera(
            f"door {door!r} has no camera {camera!r} in the gates file (by name or source as audited); "
            f"its cameras: {_named(found)}"
        )
    source = redacted_source(chosen.source)
    twins = [c for c in found if c is not chosen and redacted_source(c.source) == source]
    if twins:
        raise DoorCalibrationRefused(
            f"cameras {chosen.name} and {', '.join(c.name for c in twins)} of door {door!r} are audited "
            f"under the same source {source}: their events cannot be told apart; calibrate the door as a "
            "whole"
        )
    return CameraSelection(name=chosen.name, source=source), chosen.settings.pad
