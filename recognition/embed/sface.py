"""SFace embedder through OpenCV's FaceRecognizerSF."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from recognition.bundle import ModelBundle
from recognition.embed.described import BundleDescribedEmbedder
from recognition.errors import ModelLoadError
from recognition.types import BgrImage


class OpencvSfaceEmbedder(BundleDescribedEmbedder):
    """128-d SFace features; the model swaps BGR to RGB and normalises inside its own preprocessing."""

    def __init__(self, model_path: Path, *, bundle: ModelBundle) -> None:
        super().__init__(bundle)
        try:
            self._net = cv2.FaceRecognizerSF.create(str(model_path), "")
        except cv2.error as exc:
            raise ModelLoadError(
                f"SFace could not load {model_path} (OpenCV {cv2.__version__}): {exc}"
            ) from exc

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        feature = self._net.feature(aligned_face)
        return np.asarray(feature, dtype=np.float32).reshape(-1)
