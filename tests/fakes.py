"""Test doubles for hardware (door, relay pin, clock), a recording wrapper around the real PAD stage, and
synthetic camera frames built from real photos."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gate import ActuatorError
from recognition import (
    BgrImage,
    DetectedFace,
    FaceFillCalibration,
    ModelBundle,
    PadCalibration,
    PadScore,
    PadTrackRule,
    Preprocessing,
    PresentationAttackDetector,
)
from storage import Keyring, Sealed

FRAME_WIDTH_PX = 640
FRAME_HEIGHT_PX = 480


@dataclass(frozen=True)
class Unlock:
    """One call to RecordingDoor.unlock."""

    door: str
    duration_s: float
    unlock_id: str = ""


@dataclass
class RecordingDoor:
    """A gate.DoorActuator that records every unlock instead of driving a relay."""

    unlocks: list[Unlock] = field(default_factory=list)

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        self.unlocks.append(Unlock(door=door, duration_s=duration_s, unlock_id=unlock_id))

    def close(self) -> None:
        pass


class RecordingPad:
    """A recognition.PresentationAttackDetector that passes every call to a real one and counts the faces
    it scored."""

    def __init__(self, inner: PresentationAttackDetector) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.weights_sha256 = inner.weights_sha256
        self.scored = 0

    @property
    def calibration(self) -> PadCalibration | None:
        return self.inner.calibration

    @property
    def grey_calibration(self) -> PadCalibration | None:
        return self.inner.grey_calibration

    @property
    def face_fill_calibrations(self) -> tuple[FaceFillCalibration, ...]:
        return self.inner.face_fill_calibrations

    @property
    def track_rule(self) -> PadTrackRule | None:
        return self.inner.track_rule

    def is_face_filling_frame(self, image: BgrImage, face: DetectedFace) -> bool:
        return self.inner.is_face_filling_frame(image, face)

    def score(self, image: BgrImage, face: DetectedFace) -> PadScore:
        self.scored += 1
        return self.inner.score(image, face)


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


def write_video(path: Path, frames: Sequence[BgrImage]) -> str:
    """The frames as an MJPG video file at 10 frames a second (a camera replayed from a file); its path."""
    height_px, width_px = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (width_px, height_px))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


@dataclass
class FailingDoor:
    """A gate.DoorActuator whose relay never answers."""

    attempts: int = 0

    def unlock(self, *, door: str, duration_s: float, unlock_id: str) -> None:
        self.attempts += 1
        raise ActuatorError(f"relay of door {door} did not answer")

    def close(self) -> None:
        pass


@dataclass
class RecordingRelayPin:
    """A gate.RelayPin that records each level with its monotonic time; `lowered` is set on set_low."""

    levels: list[tuple[str, float]] = field(default_factory=list)
    lowered: threading.Event = field(default_factory=threading.Event)

    def set_high(self) -> None:
        self.levels.append(("high", time.monotonic()))

    def set_low(self) -> None:
        self.levels.append(("low", time.monotonic()))
        self.lowered.set()


@dataclass
class RecordingKms:
    """A storage.Cipher standing in for a remote KMS: a local keyring that counts the calls it serves."""

    keyring: Keyring = field(default_factory=lambda: Keyring([secrets.token_bytes(32)]))
    calls: list[str] = field(default_factory=list)

    @property
    def primary_key_id(self) -> str:
        return self.keyring.primary_key_id

    @property
    def key_ids(self) -> list[str]:
        return self.keyring.key_ids

    def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        self.calls.append("seal")
        return self.keyring.seal(plaintext, associated_data)

    def open(self, sealed: Sealed, associated_data: bytes) -> bytes:
        self.calls.append("open")
        return self.keyring.open(sealed, associated_data)

    def derive_subkey(self, purpose: str, *, key_id: str | None = None) -> bytes:
        self.calls.append("derive_subkey")
        return self.keyring.derive_subkey(purpose, key_id=key_id)


def recording_kms(_settings: object) -> RecordingKms:
    """The FACEGATE_KMS_HOOK factory used by tests: `tests.fakes:recording_kms`."""
    return RecordingKms()


def fake_bundle(*, name: str = "fake", dim: int = 128, cos_threshold: float = 0.5) -> ModelBundle:
    """A bundle description for test embedders: no weights behind it, so never loadable."""
    return ModelBundle(
        name=name,
        version="test",
        runtime="onnx",
        weights_file="none.onnx",
        weights_sha256="0" * 64,
        preprocessing=Preprocessing(colour_order="rgb"),
        embedding_dim=dim,
        licence="none",
        source="tests/fakes.py",
        default_cos_threshold=cos_threshold,
    )
