"""What a gate loop is given and gives back: its injected I/O, the gallery it reads, its decisions."""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from gate.access_policy import DoorPolicy
from gate.decision import Verdict
from gate.door import DoorActuator
from recognition import Match, PresentationAttackDetector, Recognizer
from storage import AuditEventCreate


class GalleryReader(Protocol):
    """What the loop reads from a gallery: `recognition.Gallery`, or a proxy timing its searches."""

    @property
    def model_id(self) -> str: ...

    def __len__(self) -> int: ...

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]: ...

    def lookalikes(self, min_score: float) -> Container[tuple[int, int]]: ...


@dataclass(frozen=True)
class GateDecision:
    """A decision about one track, with the frame it was reached on."""

    frame_index: int
    track_id: int
    verdict: Verdict
    threshold: float


@dataclass(frozen=True)
class GateIo:
    """What a gate loop reads and drives, injected by the composition root (A5, B4)."""

    recognizer: Recognizer
    gallery: Callable[[], GalleryReader]
    access: Callable[[], DoorPolicy]
    actuator: DoorActuator
    record: Callable[[AuditEventCreate], None]
    monotonic: Callable[[], float]
    utc_now: Callable[[], datetime]
    pad: PresentationAttackDetector | None = None
    """The PAD stage; needed when the door's PAD policy is not off."""
