"""Score folders of still presentations with the PAD stage: detect, take the centred face, score."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from recognition.errors import ImageError
from recognition.evaluation.harness import nearest_centre_face
from recognition.evaluation.padding import fill_warp_padding
from recognition.image_io import image_suffixes
from recognition.pipeline import Recognizer
from recognition.protocols import PresentationAttackDetector
from recognition.types import PadScore


@dataclass
class ScoredStills:
    """PAD scores of the presentations where a face was found and judged, and those where none was."""

    scores: dict[Path, PadScore] = field(default_factory=dict)
    detection_failures: list[Path] = field(default_factory=list)
    faces_too_close: list[Path] = field(default_factory=list)
    """Presentations PAD did not judge because the face filled every frame (videos through the gate)."""

    @property
    def attack_scores(self) -> list[float]:
        return [score.attack_score for score in self.scores.values()]


def image_paths(folder: Path) -> list[Path]:
    """Every image file under `folder`, recursively (following linked folders), sorted."""
    return sorted(
        Path(root) / name
        for root, _, names in os.walk(folder, followlinks=True)
        for name in names
        if Path(name).suffix.lower() in image_suffixes()
    )


def score_stills(
    paths: Iterable[Path],
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    *,
    is_warp_padding_filled: bool = False,
    is_grayscale: bool = False,
) -> ScoredStills:
    """Score the face nearest each photo's centre; unreadable or faceless photos are detection failures.

    With `is_warp_padding_filled`, deep funnelling's black warp border is inpainted first (padding.py):
    that border is a frame around the face, which MiniFASNet reads as a picture of a picture, and a
    door camera never shows it, so a threshold set on LFW is otherwise biased by the border, not the faces.
    With `is_grayscale`, each photo loses its colour first (three equal channels, as a grey scan decodes):
    MiniFASNet scores grey photos of live faces far higher than colour ones (BENCHMARKS.md, issue 13).
    """
    result = ScoredStills()
    for path in paths:
        try:
            image = recognizer.decode(path.read_bytes())
        except (OSError, ImageError):
            result.detection_failures.append(path)
            continue
        if is_warp_padding_filled:
            image = fill_warp_padding(image)
        if is_grayscale:
            image = np.asarray(
                cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), np.uint8
            )
        faces = recognizer.detect(image)
        if not faces:
            result.detection_failures.append(path)
            continue
        face = nearest_centre_face(faces, width_px=image.shape[1], height_px=image.shape[0])
        result.scores[path] = pad.score(image, face)
    return result
