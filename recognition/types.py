"""Value types that flow through the recognition pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

BgrImage: TypeAlias = npt.NDArray[np.uint8]
"""H×W×3 uint8 array in BGR order (D1)."""

BBox: TypeAlias = tuple[int, int, int, int]
"""(x1, y1, x2, y2) in integer pixels of the original frame (D2)."""

Landmarks5: TypeAlias = npt.NDArray[np.float32]
"""5×2 float32: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner."""


@dataclass(frozen=True)
class DetectedFace:
    """One face found by a detector."""

    bbox: BBox
    landmarks: Landmarks5
    score: float

    @property
    def width_px(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height_px(self) -> int:
        return self.bbox[3] - self.bbox[1]


@dataclass(frozen=True)
class Embedding:
    """An L2-normalised float32 vector tagged with the model that made it (D4)."""

    vector: npt.NDArray[np.float32]
    model_id: str


@dataclass(frozen=True)
class FaceObservation:
    """A detected face and its embedding."""

    face: DetectedFace
    embedding: Embedding


@dataclass(frozen=True)
class PadScore:
    """One face's presentation-attack evidence from a PresentationAttackDetector."""

    attack_score: float
    """0..1, higher means more likely an attack (ISO/IEC 30107-3 convention)."""
    cues: dict[str, float]
    """The values the score was made from, by name (each net's bona fide probability), for the audit."""
    is_face_filling_frame: bool = False
    """The face fills the frame so that its crop cannot keep the scale the nets were trained on: the score
    comes from a crop grown by edge replication, gentler on a face held close. Stills may use it; the gate
    does not (an attacker can hold a phone close)."""
    is_grayscale: bool = False
    """The scored frame is grey: its three channels are equal, up to a lossy codec's error (a grey scan, an
    ORL-like archive photo, an IR camera's frame). MiniFASNet scores grey live faces far higher than colour
    ones, so a still or track is held to a calibration measured on pictures of its own colour."""


@dataclass(frozen=True)
class Match:
    """Best score of one enrolled person against a probe embedding (cosine, -1..1)."""

    person_id: int
    score: float
