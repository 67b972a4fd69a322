"""SFace embedder through OpenCV's FaceRecognizerSF."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from recognition.errors import ModelLoadError
from recognition.model_files import SFACE_INT8
from recognition.types import BgrImage

SFACE_MODEL_ID = "sface-2021dec-int8bq"


class OpencvSfaceEmbedder:
    """128-d SFace features; the model swaps BGR to RGB and normalises inside its own preprocessing."""

    dim = 128

    def __init__(self, model_path: Path, *, cos_threshold: float, model_id: str = SFACE_MODEL_ID) -> None:
        self.model_id = model_id
        self.weights_sha256 = SFACE_INT8.sha256
        self.cos_threshold = cos_threshold
        try:
            self._net = cv2.FaceRecognizerSF.create(str(model_path), "")
        except cv2.error as exc:
            raise ModelLoadError(
                f"SFace could not load {model_path} (OpenCV {cv2.__version__}): {exc}"
            ) from exc

    def embed(self, aligned_face: BgrImage) -> npt.NDArray[np.float32]:
        feature = self._net.feature(aligned_face)
        return np.asarray(feature, dtype=np.float32).reshape(-1)
