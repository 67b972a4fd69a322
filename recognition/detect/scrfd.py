"""InsightFace SCRFD through `insightface.model_zoo.SCRFD` (onnxruntime), from your own model directory.

InsightFace's pretrained detectors are licensed for non-commercial research only, so none ships here:
a licence holder sets `model_dir`, `model_file` and the file's sha256. insightface is installed without
its dependencies (it requires the non-headless OpenCV); the `insightface` extra adds what its model zoo
imports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recognition.detect.retinaface import to_detected_faces
from recognition.errors import ModelLoadError, RecognitionError
from recognition.model_files import sha256_of
from recognition.onnx_session import ORT_ERRORS, open_session
from recognition.settings import ScrfdConfig
from recognition.types import BgrImage, DetectedFace

INSIGHTFACE_INSTALL = "pip install 'facegate[insightface]' && pip install --no-deps insightface==2.1"


def import_model_zoo() -> Any:
    """`insightface.model_zoo`, or a ModelLoadError that says how to install it.

    Raises:
        ModelLoadError: insightface or a module its model zoo imports is missing.
    """
    try:
        from insightface import model_zoo
    except ImportError as exc:
        raise ModelLoadError(
            f"insightface's model zoo cannot be imported ({exc}): {INSIGHTFACE_INSTALL}"
        ) from exc
    return model_zoo


class InsightfaceScrfdDetector:
    """SCRFD's own letterbox, anchor decoding and NMS; its five keypoints are already in D2 order."""

    def __init__(self, config: ScrfdConfig) -> None:
        path = config.model_dir.expanduser() / config.model_file
        if not path.is_file():
            raise ModelLoadError(
                f"SCRFD model {path} not found (set detector.model_dir to your model directory)"
            )
        actual = sha256_of(path)
        if actual != config.model_sha256:
            raise ModelLoadError(
                f"{path}: sha256 {actual} does not match the configured {config.model_sha256}"
            )
        model_zoo = import_model_zoo()
        self._config = config
        try:
            self._scrfd = model_zoo.SCRFD(model_file=str(path), session=open_session(path))
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"SCRFD could not load {path}: {exc}") from exc
        side_px = config.input_side_px
        self._scrfd.prepare(
            0,
            det_thresh=config.score_threshold,
            nms_thresh=config.nms_threshold,
            input_size=(side_px, side_px),
        )

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        try:
            boxes, keypoints = self._scrfd.detect(image)
        except ORT_ERRORS as exc:
            raise RecognitionError(f"SCRFD: onnxruntime failed: {exc}") from exc
        if keypoints is None:
            raise RecognitionError("SCRFD model has no keypoint outputs (use a *_kps / buffalo detector)")
        height, width = image.shape[:2]
        return to_detected_faces(
            np.asarray(boxes[:, :4], dtype=np.float32),
            np.asarray(keypoints, dtype=np.float32),
            np.asarray(boxes[:, 4], dtype=np.float32),
            width_px=width,
            height_px=height,
        )
