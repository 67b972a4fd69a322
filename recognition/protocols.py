"""The pluggable stages of recognition: one Protocol each (A6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle
from recognition.pad.card import FaceFillCalibration, PadCalibration, PadTrackRule
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
    """Templates searched by cosine similarity, grouped by person; implementations are not thread-safe."""

    model_id: str
    dim: int

    def add_batch(
        self, template_keys: Sequence[str], person_ids: Sequence[int], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Add templates: `vectors` is float32 of shape (len(template_keys), dim), rows L2-normalised.

        Raises:
            IndexStateError: a key already in the index, a repeated key or a wrong shape or dtype.
        """
        ...

    def remove_person(self, person_id: int) -> int:
        """Remove every template of a person; returns how many were removed."""
        ...

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        """Up to k persons with their best template's exact cosine, best first.

        Args:
            vector: float32 of shape (dim,), L2-normalised.
            k: at least 1.

        Raises:
            IndexStateError: k < 1 or a wrong shape or dtype.
        """
        ...

    def nearest_templates(
        self, vectors: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Each query's nearest templates with their exact cosine (the k-NN that look-alike pairs use).

        Args:
            vectors: float32 of shape (n, dim), rows L2-normalised.
            k: templates wanted per query.

        Returns:
            scores (n, m) float32 and person ids (n, m) int64, m = min(k, templates) but at least 1,
            best first; a missing hit has person id -1 and score -inf.
        """
        ...

    def __len__(self) -> int:
        """How many templates the index holds."""
        ...


class PresentationAttackDetector(Protocol):
    """Scores how likely one detected face is a presentation attack (a photo, a screen, a print)."""

    model_id: str
    weights_sha256: str
    """Hex sha256 identifying the weights, recorded with every gate decision."""

    @property
    def calibration(self) -> PadCalibration | None:
        """Attack-score thresholds at target BPCERs measured on bona fide photos; None when uncalibrated."""
        ...

    @property
    def grey_calibration(self) -> PadCalibration | None:
        """Thresholds measured on bona fide photos turned grey, for grey frames and stills (a night/IR
        camera); None: grey ones are held to `calibration`."""
        ...

    @property
    def face_fill_calibrations(self) -> tuple[FaceFillCalibration, ...]:
        """Thresholds for stills whose face fills the frame (scored with the face-fill crop), at most one
        measured on grey and one on colour photos, each for stills of its colour; () when there are none."""
        ...

    @property
    def track_rule(self) -> PadTrackRule | None:
        """The fitted rule combining a track's passive score with its cues; None when none was fitted."""
        ...

    def is_face_filling_frame(self, image: BgrImage, face: DetectedFace) -> bool:
        """Whether the face fills the frame too far for the crop the nets were trained on (geometry only,
        no inference): the gate skips such frames before scoring them; `score` flags them the same way."""
        ...

    def score(self, image: BgrImage, face: DetectedFace) -> PadScore:
        """Score one face.

        Args:
            image: the whole H×W×3 uint8 BGR frame (the PAD crop shows background around the face).
            face: a face the detector found in that frame.

        Returns:
            attack_score in 0..1 (higher: more likely an attack), the cue values it came from, whether the
            face-fill crop was used and whether `image` is grey (its channels equal up to a lossy
            codec's error; `minifasnet.GREY_CHANNEL_SPREAD`).

        Raises:
            RecognitionError: the runtime failed.
        """
        ...
