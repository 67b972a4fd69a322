"""RetinaFace MobileNet-0.25 (biubug6's WIDER FACE model) exported to ONNX at a fixed 640×640 input.

The graph returns raw SSD-style offsets for 16,800 prior boxes; the priors, the decoding and the
non-maximum suppression follow biubug6/Pytorch_Retinaface (`layers/functions/prior_box.py`,
`utils/box_utils.py`, config `cfg_mnet`).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from recognition.errors import ModelLoadError, RecognitionError
from recognition.model_files import ModelFile
from recognition.onnx_session import ORT_ERRORS, open_session
from recognition.settings import RetinafaceConfig
from recognition.types import BgrImage, DetectedFace

RETINAFACE_MNET025_640 = ModelFile(
    filename="retinaface_mnet025_640.onnx",
    sha256="f8cce06cdfa5d2a07a8378c8cff4c4f33f0b00a3f24d9ef53042ff591a881eb7",
    url="https://github.com/diandianti/photo_analyze/raw/2715cee6/models/FaceDetector.onnx",
)

INPUT_SIDE_PX = 640
# cfg_mnet of biubug6/Pytorch_Retinaface: two anchor sizes per level, strides 8/16/32, SSD variances.
_MIN_SIZES_PX = ((16, 32), (64, 128), (256, 512))
_STEPS_PX = (8, 16, 32)
_CENTRE_VARIANCE, _SIZE_VARIANCE = 0.1, 0.2
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)

FloatArray = npt.NDArray[np.float32]


def prior_boxes(side_px: int = INPUT_SIDE_PX) -> FloatArray:
    """Anchor boxes (cx, cy, w, h), relative to the input side, in the order the graph emits them.

    Returns:
        N×4 float32; N = 16,800 for a 640 px input.
    """
    priors: list[list[float]] = []
    for step_px, min_sizes_px in zip(_STEPS_PX, _MIN_SIZES_PX, strict=True):
        cells = math.ceil(side_px / step_px)
        for row, col in itertools.product(range(cells), repeat=2):
            centre_x, centre_y = (col + 0.5) * step_px / side_px, (row + 0.5) * step_px / side_px
            priors.extend([centre_x, centre_y, size / side_px, size / side_px] for size in min_sizes_px)
    return np.asarray(priors, dtype=np.float32)


def to_detected_faces(
    boxes: FloatArray, landmarks: FloatArray, scores: FloatArray, *, width_px: int, height_px: int
) -> list[DetectedFace]:
    """Detector outputs in frame pixels → DetectedFaces with clipped integer boxes, best score first.

    Args:
        boxes: N×4 (x1, y1, x2, y2) float pixels.
        landmarks: N×5×2 float pixels, already in D2 order.
        scores: N confidences in 0..1.
    """
    faces = []
    for box, points, score in zip(boxes, landmarks, scores, strict=True):
        bbox = (
            max(0, int(round(float(box[0])))),
            max(0, int(round(float(box[1])))),
            min(width_px, int(round(float(box[2])))),
            min(height_px, int(round(float(box[3])))),
        )
        faces.append(DetectedFace(bbox=bbox, landmarks=points.astype(np.float32), score=float(score)))
    return sorted(faces, key=lambda face: face.score, reverse=True)


class OnnxRetinafaceDetector:
    """Letterboxes the frame into 640×640 (top-left, padded with the mean), so one scale maps back."""

    def __init__(self, model_path: Path, config: RetinafaceConfig) -> None:
        self._config = config
        try:
            self._session = open_session(model_path)
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"RetinaFace could not load {model_path}: {exc}") from exc
        self._input_name = self._session.get_inputs()[0].name
        self._priors = prior_boxes()
        # The exported outputs have generated names; their last axis (4, 2, 10) says which is which.
        self._output_names = {int(out.shape[-1]): out.name for out in self._session.get_outputs()}
        if sorted(self._output_names) != [2, 4, 10]:
            raise ModelLoadError(
                f"{model_path}: outputs {self._output_names} are not RetinaFace's loc/conf/landm"
            )

    def detect(self, image: BgrImage) -> list[DetectedFace]:
        height, width = image.shape[:2]
        scale = INPUT_SIDE_PX / max(height, width)
        blob = self._letterbox(image, scale)
        names = [self._output_names[4], self._output_names[2], self._output_names[10]]
        try:
            loc, conf, landm = self._session.run(names, {self._input_name: blob})
        except ORT_ERRORS as exc:
            raise RecognitionError(f"RetinaFace: onnxruntime failed: {exc}") from exc
        scores = conf[0][:, 1]  # the export ends in a softmax: (background, face) probabilities
        keep = np.flatnonzero(scores >= self._config.score_threshold)
        priors = self._priors[keep]
        boxes = _decode_boxes(loc[0][keep], priors) * (INPUT_SIDE_PX / scale)
        landmarks = _decode_landmarks(landm[0][keep], priors) * (INPUT_SIDE_PX / scale)
        chosen = _nms(boxes, scores[keep], iou_threshold=self._config.nms_threshold)
        return to_detected_faces(
            boxes[chosen], landmarks[chosen], scores[keep][chosen], width_px=width, height_px=height
        )

    @staticmethod
    def _letterbox(image: BgrImage, scale: float) -> FloatArray:
        """1×3×640×640 float32: the resized frame at the top-left, minus the BGR mean; padding is 0."""
        height, width = image.shape[:2]
        size = (min(INPUT_SIDE_PX, round(width * scale)), min(INPUT_SIDE_PX, round(height * scale)))
        resized = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        canvas = np.zeros((INPUT_SIDE_PX, INPUT_SIDE_PX, 3), dtype=np.float32)
        canvas[: size[1], : size[0]] = resized.astype(np.float32) - _BGR_MEAN
        return canvas.transpose(2, 0, 1)[np.newaxis]


def _decode_boxes(loc: FloatArray, priors: FloatArray) -> FloatArray:
    """SSD offsets → (x1, y1, x2, y2) relative to the input side."""
    centres = priors[:, :2] + loc[:, :2] * _CENTRE_VARIANCE * priors[:, 2:]
    sizes = priors[:, 2:] * np.exp(loc[:, 2:] * _SIZE_VARIANCE)
    return np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)


def _decode_landmarks(landm: FloatArray, priors: FloatArray) -> FloatArray:
    """Offsets → N×5×2 points relative to the input side (eyes, nose, mouth corners: D2 order)."""
    offsets = landm.reshape(-1, 5, 2)
    return priors[:, np.newaxis, :2] + offsets * _CENTRE_VARIANCE * priors[:, np.newaxis, 2:]


def _nms(boxes: FloatArray, scores: FloatArray, *, iou_threshold: float) -> npt.NDArray[np.intp]:
    """Indices kept by greedy non-maximum suppression, highest score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.intp)
    xywh = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes]
    kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), 0.0, iou_threshold)
    return np.asarray(kept, dtype=np.intp).reshape(-1)
