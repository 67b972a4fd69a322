"""MiniFASNet V2 (scale 2.7) + V1SE (scale 4.0) through onnxruntime: the passive PAD stage, no torch."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from recognition.errors import ModelLoadError, RecognitionError
from recognition.model_files import sha256_of
from recognition.onnx_session import ORT_ERRORS, open_session
from recognition.pad.card import FaceFillCalibration, PadCalibration, PadCard, PadNet, PadTrackRule
from recognition.pad.crop import BoxCorrection, crop_scale_ratio, pad_crop
from recognition.types import BgrImage, DetectedFace, PadScore

logger = logging.getLogger(__name__)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


GREY_CHANNEL_SPREAD = 4
"""Most a grey pixel's three channels may differ, in levels of 255: a grey picture through a lossy colour
codec decodes a little off grey (make-attacks' MJPEG clips: every pixel exactly 2 levels apart), while
colour photos and door frames have 1% of their pixels 23 or more levels apart (BENCHMARKS.md, grey frames)."""

GREY_OFF_SHARE = 0.01
"""Share of a grey picture's pixels that may be further apart than GREY_CHANNEL_SPREAD (stray codec error)."""


def _is_grey_picture(picture: BgrImage) -> bool:
    """OpenCV's per-element max and min of the planes: numpy's reduction over the channel axis took 20 ms
    on a 640×480 frame here against 0.3 ms, and a grey camera's every frame pays it."""
    blue, green, red = cv2.split(picture)
    spread = cv2.max(cv2.max(blue, green), red) - cv2.min(cv2.min(blue, green), red)  # never below 0
    return bool(np.count_nonzero(spread > GREY_CHANNEL_SPREAD) <= GREY_OFF_SHARE * spread.size)


def _is_grayscale(image: BgrImage, patches: list[BgrImage]) -> bool:
    """Whether `image` is grey: at most GREY_OFF_SHARE of its pixels have channels more than
    GREY_CHANNEL_SPREAD apart, so that a grey (IR) camera's frames count as grey through a lossy codec. Its
    `patches` (resized cuts of it, grey when it is) are looked at first, so a colour frame costs a few
    thousand comparisons, not a whole frame's."""
    return all(_is_grey_picture(picture) for picture in (*patches, image))


class OnnxMinifasnetPad:
    """Averages the nets' bona fide probabilities, as the authors sum their softmax outputs."""

    def __init__(
        self,
        card_path: Path,
        card: PadCard,
        *,
        correction: BoxCorrection,
        is_border_replicated: bool = False,
        min_crop_scale_ratio: float = 0.0,
    ) -> None:
        self.card = card
        self.model_id = card.model_id
        self.weights_sha256 = card.weights_sha256
        self._correction = correction
        self._is_border_replicated = is_border_replicated
        self._min_crop_scale_ratio = min_crop_scale_ratio
        self._sessions = [(net, self._session(card_path.parent / net.file, net)) for net in card.nets]

    @property
    def calibration(self) -> PadCalibration | None:
        return self.card.calibration

    @property
    def grey_calibration(self) -> PadCalibration | None:
        return self.card.grey_calibration

    @property
    def face_fill_calibrations(self) -> tuple[FaceFillCalibration, ...]:
        return self.card.face_fill_calibrations

    @property
    def track_rule(self) -> PadTrackRule | None:
        return self.card.track_rule

    @staticmethod
    def _session(path: Path, net: PadNet) -> ort.InferenceSession:
        if not path.is_file():
            raise ModelLoadError(f"PAD net {path} named by its card is missing")
        actual = sha256_of(path)
        if actual != net.sha256:
            raise ModelLoadError(f"{path}: sha256 {actual} does not match the card's {net.sha256}")
        try:
            return open_session(path)
        except ORT_ERRORS as exc:
            raise ModelLoadError(f"onnxruntime could not load {path}: {exc}") from exc

    def is_face_filling_frame(self, image: BgrImage, face: DetectedFace) -> bool:
        """Whether even the smallest-scale net's crop keeps less than `min_crop_scale_ratio` of its scale."""
        box = self._correction.apply(face.bbox)
        height, width = image.shape[:2]
        kept = max(crop_scale_ratio(width, height, box, net.scale) for net, _ in self._sessions)
        return kept < self._min_crop_scale_ratio

    def crops(self, image: BgrImage, face: DetectedFace) -> list[BgrImage]:
        """Each net's input patch: side×side×3 uint8 BGR, cut around the corrected face box; grown by edge
        replication where the face fills the frame (or always, with `is_border_replicated`)."""
        return self._crops(image, face, is_filling=self.is_face_filling_frame(image, face))

    def _crops(self, image: BgrImage, face: DetectedFace, *, is_filling: bool) -> list[BgrImage]:
        box = self._correction.apply(face.bbox)
        is_replicated = self._is_border_replicated or is_filling
        return [
            pad_crop(
                image, box, scale=net.scale, side_px=net.input_side_px, is_border_replicated=is_replicated
            )
            for net, _ in self._sessions
        ]

    def score(self, image: BgrImage, face: DetectedFace) -> PadScore:
        live = {}
        is_filling = self.is_face_filling_frame(image, face)
        crops = self._crops(image, face, is_filling=is_filling)
        for (net, session), crop in zip(self._sessions, crops, strict=True):
            tensor = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)
            try:
                (logits,) = session.run(None, {session.get_inputs()[0].name: tensor})
            except ORT_ERRORS as exc:
                raise RecognitionError(f"{self.model_id}: onnxruntime failed: {exc}") from exc
            live[f"{net.variant}_live"] = float(_softmax(np.asarray(logits))[0, net.live_class])
        attack = 1.0 - sum(live.values()) / len(live)
        return PadScore(
            attack_score=min(1.0, max(0.0, attack)),
            cues=live,
            is_face_filling_frame=is_filling,
            is_grayscale=_is_grayscale(image, crops),
        )
