"""A face filling its photo (ORL's 92x112 headshots): the PAD crop keeps its scale by edge replication and
the score says so; photos with background around the face are cropped as the authors crop them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import PresentationAttackDetector, RecognitionSettings, Recognizer, build_pad_detector
from tests.data import knn_examples, orl

pytestmark = pytest.mark.model


def _scores(pad: PresentationAttackDetector, recognizer: Recognizer, paths: list[Path]):
    scores = []
    for path in paths:
        image = np.asarray(cv2.imread(str(path), cv2.IMREAD_COLOR), np.uint8)
        face = recognizer.detect(image)[0]
        score = pad.score(image, face)
        assert score.is_face_filling_frame == pad.is_face_filling_frame(image, face)
        scores.append(score)
    return scores


def test_headshots_filling_the_photo_get_the_replicated_crop_and_scenes_the_reference_crop(
    pad_model_dir: Path, pad_detector: PresentationAttackDetector, recognizer: Recognizer, tmp_path: Path
) -> None:
    headshots = sorted(orl().glob("s*/1.pgm"))[::4]
    scenes = sorted((knn_examples() / "train").rglob("*.jpg"))
    reference = build_pad_detector(
        RecognitionSettings(model_dir=pad_model_dir, bundle_dirs=[], pad={"min_crop_scale_ratio": 0.0}),
        cache_dir=tmp_path,
    )

    filled, clamped = _scores(pad_detector, recognizer, headshots), _scores(reference, recognizer, headshots)
    assert all(s.is_face_filling_frame for s in filled) and not any(s.is_face_filling_frame for s in clamped)
    # The reference's shrunken crop calls these live headshots attacks; the kept scale does not.
    assert np.median([s.attack_score for s in filled]) < np.median([s.attack_score for s in clamped])

    in_scenes = _scores(pad_detector, recognizer, scenes)
    assert not any(s.is_face_filling_frame for s in in_scenes)
    assert [s.attack_score for s in in_scenes] == [
        s.attack_score for s in _scores(reference, recognizer, scenes)
    ]


def _through_mjpeg(frame: np.ndarray, tmp_path: Path) -> np.ndarray:
    """`frame` written to an MJPEG clip (make-attacks' codec, a common camera stream) and decoded again."""
    path = tmp_path / "grey.avi"
    height, width = frame.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (width, height))
    writer.write(frame)
    writer.release()
    ok, decoded = cv2.VideoCapture(str(path)).read()
    assert ok, "OpenCV could not read back its own MJPEG clip"
    return np.asarray(decoded, np.uint8)


def test_the_score_says_whether_the_photo_is_grey_up_to_a_codec_error(
    pad_detector: PresentationAttackDetector, recognizer: Recognizer, tmp_path: Path
) -> None:
    headshot = np.asarray(cv2.imread(str(orl() / "s1" / "1.pgm"), cv2.IMREAD_COLOR), np.uint8)
    scene = np.asarray(cv2.imread(str(next((knn_examples() / "train").rglob("*.jpg"))), cv2.IMREAD_COLOR))
    in_grey = np.asarray(cv2.cvtColor(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), np.uint8)
    stray = in_grey.copy()
    stray[-1, -1, 2] ^= 255  # one pixel far off grey, in a corner
    decoded = _through_mjpeg(in_grey, tmp_path)
    height, width = scene.shape[:2]
    patched = in_grey.copy()  # a colour tenth of the frame, away from the face
    patched[: height // 4, : width * 2 // 5] = scene[: height // 4, : width * 2 // 5]
    face = recognizer.detect(scene)[0]

    assert pad_detector.score(headshot, recognizer.detect(headshot)[0]).is_grayscale
    assert not pad_detector.score(scene, face).is_grayscale
    assert pad_detector.score(in_grey, face).is_grayscale
    assert pad_detector.score(stray, face).is_grayscale
    assert not np.array_equal(decoded[..., 0], decoded[..., 1]), "the codec left the frame exactly grey"
    assert pad_detector.score(decoded, face).is_grayscale
    assert not pad_detector.score(patched, face).is_grayscale
