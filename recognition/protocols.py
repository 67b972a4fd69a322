"""The pluggable stages of recognition: one Protocol each (A6)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle
from recognition.pad.card import PadCalibration
from recognition.types import BgrImage, DetectedFace, Match, PadScore


class Detector(Protocol):
    """Finds faces and their five landmarks."""

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        """Detect faces.

        Args:
            image: H×W×3 uint8 BGR frame of any size.

        Returns:
            Faces in the frame's own pixel coordinates, highest score first.
        """
        ...


class Embedder(Protocol):
    """Turns an aligned 112×112 face crop into a feature vector."""

    bundle: ModelBundle
    """The model's description: preprocessing, licence and calibrated thresholds (D5)."""
    model_id: str
    weights_sha256: str
    """Hex sha256 of the weights file, recorded with every gate decision."""
    dim: int
    cos_threshold: float
    """Cosine at or above which two faces of this model are the same person (D5)."""

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        """Embed one aligned crop.

        Args:
            aligned_face: 112×112×3 uint8 BGR crop from `recognition.align.align_face`.

        Returns:
            A 1-D float32 vector of length `dim` (the pipeline L2-normalises it).
        """
        ...


class FaceIndex(Protocol):
    """Gallery of enrolled templates searched by cosine similarity."""

    model_id: str

    def add(self, template_key: str, person_id: int, vector: npt.NDArray[np.float32]) -> None:
        """Add one L2-normalised template; raises IndexStateError on a duplicate key or bad shape."""
        ...

    def remove_person(self, person_id: int) -> int:
        """Remove every template of a person; returns how many were removed."""
        ...

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        """Return up to k persons, best template score per person, best first."""
        ...

    def confusable_pairs(self, min_score: float) -> dict[tuple[int, int], float]:
        """People (lower id first) whose templates score at least `min_score` together: their best cosine."""
        ...

    def __len__(self) -> int: ...


class PresentationAttackDetector(Protocol):
    """Scores how likely one detected face is a presentation attack (a photo, a screen, a print)."""

    model_id: str
    weights_sha256: str
    """Hex sha256 identifying the weights, recorded with every gate decision."""

    @property
    def calibration(self) -> PadCalibration | None:
        """Attack-score thresholds at target BPCERs measured on bona fide photos; None when uncalibrated."""
        ...

    def score(self, image: BgrImage, face: DetectedFace) -> PadScore:
        """Score one face.

        Args:
            image: the whole H×W×3 uint8 BGR frame (the PAD crop shows background around the face).
            face: a face the detector found in that frame.

        Returns:
            attack_score in 0..1 (higher: more likely an attack) and the cue values it came from.

        Raises:
            RecognitionError: the runtime failed.
        """
        ...
