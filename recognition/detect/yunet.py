"""YuNet face detector through OpenCV's FaceDetectorYN."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from recognition.errors import ModelLoadError
from recognition.settings import YunetConfig
from recognition.types import BgrImage, DetectedFace


class YunetDetector:
    """Detects on a copy downscaled to `max_detect_side_px`; boxes come back in full-frame pixels."""

    def __init__(self, model_path: Path, config: YunetConfig) -> None:
        self._config = config
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path), "", (320, 320), config.score_threshold, config.nms_threshold, 5000
            )
        except cv2.error as exc:
            raise ModelLoadError(f"YuNet could not load {model_path}: {exc}") from exc

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        height, width = image.shape[:2]
        scale = min(1.0, self._config.max_detect_side_px / max(height, width))
        small = image if scale == 1.0 else cv2.resize(image, (round(width * scale), round(height * scale)))
        self._net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self._net.detect(small)
        if rows is None:
            return []
        faces = [self._to_face(row, scale, width, height) for row in rows]
        return sorted(faces, key=lambda face: face.score, reverse=True)

    @staticmethod
    def _to_face(row: np.ndarray, scale: float, width: int, height: int) -> DetectedFace:
        x, y, w, h = row[:4] / scale
        bbox = (
            max(0, int(round(x))),
            max(0, int(round(y))),
            min(width, int(round(x + w))),
            min(height, int(round(y + h))),
        )
        # YuNet lists the subject's right eye first, which is the image-left eye (D2 order already).
        landmarks = np.asarray(row[4:14] / scale, dtype=np.float32).reshape(5, 2)
        score = float(row[14])
        return DetectedFace(bbox=bbox, landmarks=landmarks, score=score)
