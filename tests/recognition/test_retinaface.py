"""RetinaFace MobileNet-0.25 (ONNX) on real photos: the six faces of t1.jpg with landmarks close to
YuNet's, none in the no-face photos, and boxes mapped back through the letterbox for any aspect."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    DetectedFace,
    ModelLoadError,
    RecognitionSettings,
    Recognizer,
    RetinafaceConfig,
    build_recognizer,
)
from tests.data import SHARED_DATA_DIR, group_photo, no_face_photos
from tests.recognition.test_detector import _check_geometry

pytestmark = pytest.mark.model

WEIGHTS_DIR = SHARED_DATA_DIR / "weights" / "retinaface_mnet025"


def _build(model_dir: Path, cache_dir: Path) -> Recognizer:
    settings = RecognitionSettings(
        allow_model_download=False, model_dir=model_dir, detector=RetinafaceConfig()
    )
    return build_recognizer(settings, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def retinaface(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    if not (WEIGHTS_DIR / "retinaface_mnet025_640.onnx").is_file():
        pytest.skip(f"retinaface_mnet025_640.onnx not found in {WEIGHTS_DIR} (set FACEGATE_DATA_DIR)")
    return _build(WEIGHTS_DIR, tmp_path_factory.mktemp("model-cache"))


def _by_x(faces: list[DetectedFace]) -> list[DetectedFace]:
    return sorted(faces, key=lambda face: face.bbox[0])


def test_finds_the_six_people_with_landmarks_close_to_yunet(
    retinaface: Recognizer, recognizer: Recognizer
) -> None:
    image = cv2.imread(str(group_photo()))

    faces = retinaface.detect(image)
    reference = recognizer.detect(image)

    assert len(faces) == len(reference) == 6
    _check_geometry(faces, image)
    assert all(face.score >= RetinafaceConfig().score_threshold for face in faces)
    ratios = []
    for ours, theirs in zip(_by_x(faces), _by_x(reference), strict=True):
        inter_eye_px = float(np.linalg.norm(theirs.landmarks[1] - theirs.landmarks[0]))
        ratio = np.linalg.norm(ours.landmarks - theirs.landmarks, axis=1) / inter_eye_px
        # A swapped eye or mouth corner would be about one inter-eye distance off; the int8 YuNet
        # drifts on strongly tilted heads, hence the looser per-face bound.
        assert ratio.max() < 0.6 and ratio.mean() < 0.4, (theirs.bbox, ratio)
        ratios.extend(ratio)
    assert np.median(ratios) < 0.2, ratios


def test_finds_no_face_in_product_photos(retinaface: Recognizer) -> None:
    photos = no_face_photos()
    assert len(photos) >= 3
    for path in photos:
        assert retinaface.detect(cv2.imread(str(path))) == [], path.name


@pytest.mark.parametrize("pad_axis", [0, 1], ids=["portrait", "wide"])
def test_boxes_map_back_through_the_letterbox(retinaface: Recognizer, pad_axis: int) -> None:
    image = cv2.imread(str(group_photo()))
    # Pad below until the frame is portrait, or to the right to make it wider, then upscale 2×: the
    # longer side and the letterbox scale change, the faces' place in the frame does not. The padding
    # is about 10% so the network sees the faces at nearly the same size (a different size moves
    # the landmarks of the tilted heads by up to a quarter of the inter-eye distance).
    height, width = image.shape[:2]
    longer_px = width + width // 10
    padding = [(0, longer_px - height), (0, 0)] if pad_axis == 0 else [(0, 0), (0, longer_px - width)]
    padded = cv2.copyMakeBorder(image, *padding[0], *padding[1], cv2.BORDER_CONSTANT, value=(104, 117, 123))
    big = cv2.resize(padded, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_LINEAR)

    reference = _by_x(retinaface.detect(image))
    detected = retinaface.detect(big)

    assert len(detected) == 6
    _check_geometry(detected, big)
    for small, large in zip(reference, _by_x(detected), strict=True):
        inter_eye_px = float(np.linalg.norm(large.landmarks[1] - large.landmarks[0]))
        # The network sees each face at a different size, so allow a few percent of the face.
        assert np.abs(np.array(large.bbox) - 2 * np.array(small.bbox)).max() < 0.15 * large.width_px
        assert np.abs(large.landmarks - 2 * small.landmarks).max() < 0.2 * inter_eye_px


def test_retinaface_crops_embed_like_yunet_crops(retinaface: Recognizer, recognizer: Recognizer) -> None:
    image = cv2.imread(str(group_photo()))
    ours = _by_x(retinaface.detect(image))
    theirs = _by_x(recognizer.detect(image))

    for retina_face, yunet_face in zip(ours, theirs, strict=True):
        a = recognizer.embed(image, retina_face).vector
        b = recognizer.embed(image, yunet_face).vector
        assert float(a @ b) > recognizer.cos_threshold


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "retinaface_mnet025_640.onnx").write_bytes(b"not the pinned model")

    with pytest.raises(ModelLoadError, match="sha256"):
        _build(tmp_path, tmp_path / "cache")
