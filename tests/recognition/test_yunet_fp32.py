"""YuNet's float weights (MANIFEST: `yunet/face_detection_yunet_2023mar.onnx`) from the model directory:
the same faces as the int8 default, and a clear error when the file is not there."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import ModelLoadError, RecognitionSettings, Recognizer, YunetConfig, build_recognizer
from tests.data import SHARED_DATA_DIR, group_photo

pytestmark = pytest.mark.model

WEIGHTS_DIR = SHARED_DATA_DIR / "weights" / "yunet"


def _fp32(model_dir: Path, cache_dir: Path) -> Recognizer:
    settings = RecognitionSettings(
        allow_model_download=False, model_dir=model_dir, detector=YunetConfig(weights="fp32")
    )
    return build_recognizer(settings, cache_dir=cache_dir)


def test_the_float_weights_find_the_faces_the_int8_default_finds(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    if not (WEIGHTS_DIR / "face_detection_yunet_2023mar.onnx").is_file():
        pytest.skip(f"face_detection_yunet_2023mar.onnx not found in {WEIGHTS_DIR} (set FACEGATE_DATA_DIR)")
    image = cv2.imread(str(group_photo()))

    faces = sorted(_fp32(WEIGHTS_DIR, tmp_path).detect(image), key=lambda face: face.bbox[0])
    reference = sorted(recognizer.detect(image), key=lambda face: face.bbox[0])

    assert len(faces) == len(reference) == 6
    for ours, theirs in zip(faces, reference, strict=True):
        inter_eye_px = float(np.linalg.norm(theirs.landmarks[1] - theirs.landmarks[0]))
        assert np.max(np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1)) < 0.25 * inter_eye_px


def test_without_the_float_file_and_downloads_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="face_detection_yunet_2023mar.onnx"):
        _fp32(tmp_path, tmp_path / "cache")
