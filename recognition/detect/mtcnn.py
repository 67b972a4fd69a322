"""MTCNN from facenet-pytorch: the second detector, imported lazily so the door path needs no torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from recognition.errors import ModelLoadError
from recognition.settings import MtcnnConfig
from recognition.types import BgrImage, DetectedFace


class FacenetMtcnnDetector:
    """Runs on CUDA when torch sees a GPU, otherwise on the CPU; weights ship inside facenet-pytorch."""

    def __init__(self, config: MtcnnConfig) -> None:
        try:
            import torch
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise ModelLoadError(
                "the MTCNN detector needs the optional extra: pip install 'facegate[mtcnn]'"
            ) from exc
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._config = config
        self._mtcnn: Any = MTCNN(keep_all=True, min_face_size=config.min_face_px, device=device)

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return []
        height, width = image.shape[:2]
        faces = []
        for box, prob, landmarks in zip(boxes, probs, points, strict=True):
            if prob < self._config.min_probability:
                continue
            bbox = (
                max(0, int(round(box[0]))),
                max(0, int(round(box[1]))),
                min(width, int(round(box[2]))),
                min(height, int(round(box[3]))),
            )
            faces.append(
                DetectedFace(bbox=bbox, landmarks=np.asarray(landmarks, dtype=np.float32), score=float(prob))
            )
        return sorted(faces, key=lambda face: face.score, reverse=True)
