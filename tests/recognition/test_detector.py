"""YuNet through the pipeline on real photos: counts, geometry, and the downscale path."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    DetectedFace,
    ImageError,
    RecognitionSettings,
    Recognizer,
    YunetConfig,
    build_recognizer,
)
from tests.data import group_photo, no_face_photos


def _check_geometry(faces: list[DetectedFace], image: np.ndarray) -> None:
    height, width = image.shape[:2]
    for face in faces:
        x1, y1, x2, y2 = face.bbox
        assert all(isinstance(value, int) for value in face.bbox)
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
        # Landmarks inside their box, allowing a 10% margin for faces cut by the box edge.
        margin_x, margin_y = 0.1 * face.width_px, 0.1 * face.height_px
        assert np.all(face.landmarks[:, 0] >= x1 - margin_x) and np.all(face.landmarks[:, 0] <= x2 + margin_x)
        assert np.all(face.landmarks[:, 1] >= y1 - margin_y) and np.all(face.landmarks[:, 1] <= y2 + margin_y)
        left_eye, right_eye, nose, left_mouth, right_mouth = face.landmarks
        # D2 order: image-left eye before image-right eye, eyes above the mouth, nose between.
        assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
        assert max(left_eye[1], right_eye[1]) < min(left_mouth[1], right_mouth[1])
        assert left_eye[1] < nose[1] < left_mouth[1]
    scores = [face.score for face in faces]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < score <= 1.0 for score in scores)


def test_finds_the_six_people_in_the_group_photo(recognizer: Recognizer) -> None:
    image = cv2.imread(str(group_photo()))

    faces = recognizer.detect(image)

    assert len(faces) == 6
    _check_geometry(faces, image)
    # Six different people: no two boxes overlap.
    boxes = sorted(face.bbox for face in faces)
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left[2] <= right[0] or left[3] <= right[1] or right[3] <= left[1]


def test_finds_no_face_in_product_photos(recognizer: Recognizer) -> None:
    photos = no_face_photos()
    assert len(photos) >= 3
    for path in photos:
        assert recognizer.detect(cv2.imread(str(path))) == [], path.name


def test_finds_one_face_in_each_single_person_crop(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    assert len(group_faces) == 6
    for data in group_faces:
        image = recognizer.decode(data)
        faces = recognizer.detect(image)
        assert len(faces) == 1
        _check_geometry(faces, image)


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter)


def _by_x(faces: list[DetectedFace]) -> list[DetectedFace]:
    return sorted(faces, key=lambda face: face.bbox[0])


def test_downscaled_detection_maps_boxes_back_to_full_resolution(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    image = cv2.imread(str(group_photo()))
    big = cv2.resize(image, None, fx=3.0, fy=3.0, interpolation=cv2.INTER_LINEAR)
    assert max(big.shape[:2]) > 3 * YunetConfig().max_detect_side_px

    detected = recognizer.detect(big)

    assert len(detected) == 6
    _check_geometry(detected, big)
    # Both frames are downscaled to the same 960 px network input, so only the mapping back differs.
    for small, large in zip(_by_x(recognizer.detect(image)), _by_x(detected), strict=True):
        inter_eye_px = float(np.linalg.norm(large.landmarks[1] - large.landmarks[0]))
        assert np.abs(np.array(large.bbox) - 3 * np.array(small.bbox)).max() <= 0.02 * large.width_px + 3
        assert np.abs(large.landmarks - 3 * small.landmarks).max() < 0.02 * inter_eye_px


def test_downscaled_detection_agrees_with_native_resolution(recognizer: Recognizer, tmp_path: Path) -> None:
    image = cv2.imread(str(group_photo()))
    big = cv2.resize(image, None, fx=3.0, fy=3.0, interpolation=cv2.INTER_LINEAR)
    native = build_recognizer(
        RecognitionSettings(
            allow_model_download=False, detector=YunetConfig(max_detect_side_px=max(image.shape))
        ),
        cache_dir=tmp_path,
    )

    reference = _by_x(native.detect(image))
    detected = _by_x(recognizer.detect(big))

    assert len(reference) == len(detected) == 6
    for small, large in zip(reference, detected, strict=True):
        # Different network input sizes: the int8 model moves boxes and landmarks by a few pixels.
        assert _iou(large.bbox, tuple(3 * value for value in small.bbox)) > 0.75
        assert np.abs(large.landmarks - 3 * small.landmarks).max() < 0.15 * large.width_px


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4), dtype=np.uint8),
        np.zeros((10, 10, 3), dtype=np.float32),
    ],
    ids=["gray", "bgra", "float"],
)
def test_rejects_arrays_that_are_not_bgr_images(recognizer: Recognizer, array: np.ndarray) -> None:
    with pytest.raises(ImageError, match="uint8 BGR"):
        recognizer.detect(array)
