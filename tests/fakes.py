"""Test doubles for hardware (door, clock) and a builder of synthetic camera frames from real photos."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gate import ActuatorError
from recognition import BgrImage

FRAME_WIDTH_PX = 640
FRAME_HEIGHT_PX = 480


@dataclass(frozen=True)
class Unlock:
    """One call to RecordingDoor.unlock."""

    door: str
    duration_s: float


@dataclass
class RecordingDoor:
    """A gate.DoorActuator that records every unlock instead of driving a relay."""

    unlocks: list[Unlock] = field(default_factory=list)

    def unlock(self, *, door: str, duration_s: float) -> None:
        self.unlocks.append(Unlock(door=door, duration_s=duration_s))


@dataclass
class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    now_s: float = 0.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds


@dataclass(frozen=True)
class Placement:
    """A photo pasted into a frame with its top-left corner at (x_px, y_px)."""

    photo: BgrImage
    x_px: int
    y_px: int


def paste_frame(
    placements: Sequence[Placement], *, width_px: int = FRAME_WIDTH_PX, height_px: int = FRAME_HEIGHT_PX
) -> BgrImage:
    """A grey BGR canvas with each photo pasted at its position (photos must fit inside)."""
    frame = np.full((height_px, width_px, 3), 96, dtype=np.uint8)
    for placement in placements:
        height, width = placement.photo.shape[:2]
        if placement.x_px + width > width_px or placement.y_px + height > height_px:
            raise ValueError(
                f"a {width}×{height} photo at ({placement.x_px}, {placement.y_px}) leaves the frame"
            )
        frame[placement.y_px : placement.y_px + height, placement.x_px : placement.x_px + width] = (
            placement.photo
        )
    return frame


def build_frames(placements: Sequence[Placement], *, count: int, drift_px: int = 2) -> list[BgrImage]:
    """`count` frames of the same scene, every photo moving `drift_px` to the right per frame (a walker)."""
    return [
        paste_frame([Placement(p.photo, p.x_px + index * drift_px, p.y_px) for p in placements])
        for index in range(count)
    ]


@dataclass
class FailingDoor:
    """A gate.DoorActuator whose relay never answers."""

    attempts: int = 0

    def unlock(self, *, door: str, duration_s: float) -> None:
        self.attempts += 1
        raise ActuatorError(f"relay of door {door} did not answer")
