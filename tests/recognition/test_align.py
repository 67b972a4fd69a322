"""align.py: the similarity estimate against independent references, and our crop against OpenCV's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognition import (
    ALIGNED_SIZE_PX,
    ARCFACE_TEMPLATE,
    SFACE_INT8,
    Recognizer,
    align_face,
    locate_model_file,
    similarity_transform,
)
from tests.data import group_photo


def _similarity(angle_rad: float, scale: float, tx: float, ty: float) -> np.ndarray:
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[scale * cos, -scale * sin, tx], [scale * sin, scale * cos, ty]], dtype=np.float64)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]


def _inverse(matrix: np.ndarray) -> np.ndarray:
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def _least_squares_reference(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Independent estimate: x' = a·x − b·y + tx, y' = b·x + a·y + ty solved as a linear system."""
    rows, targets = [], []
    for (x, y), (u, v) in zip(src.astype(np.float64), dst.astype(np.float64), strict=True):
        rows.append([x, -y, 1.0, 0.0])
        targets.append(u)
        rows.append([y, x, 0.0, 1.0])
        targets.append(v)
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


@pytest.mark.parametrize(
    ("angle_deg", "scale", "tx", "ty"),
    [(0.0, 1.0, 0.0, 0.0), (17.0, 2.5, 310.0, -42.0), (-63.0, 0.4, 12.5, 800.0), (179.0, 3.7, -5.0, 5.0)],
)
def test_recovers_the_inverse_of_a_known_similarity(
    angle_deg: float, scale: float, tx: float, ty: float
) -> None:
    known = _similarity(np.deg2rad(angle_deg), scale, tx, ty)
    landmarks = _apply(known, ARCFACE_TEMPLATE).astype(np.float32)

    recovered = similarity_transform(landmarks, ARCFACE_TEMPLATE)

    np.testing.assert_allclose(recovered, _inverse(known), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(_apply(recovered, landmarks), ARCFACE_TEMPLATE, atol=1e-3)
    forward = similarity_transform(ARCFACE_TEMPLATE, landmarks)
    np.testing.assert_allclose(forward, known, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_noisy_landmarks_match_the_linear_least_squares_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    known = _similarity(rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 4.0), *rng.uniform(-500, 500, size=2))
    landmarks = (_apply(known, ARCFACE_TEMPLATE) + rng.normal(0.0, 3.0, size=(5, 2))).astype(np.float32)

    ours = similarity_transform(landmarks, ARCFACE_TEMPLATE)

    np.testing.assert_allclose(
        ours, _least_squares_reference(landmarks, ARCFACE_TEMPLATE), rtol=1e-6, atol=1e-6
    )
    # A similarity: the 2×2 part is a scaled rotation (no shear, no reflection).
    linear = ours[:, :2]
    assert linear[0, 0] == pytest.approx(linear[1, 1]) and linear[0, 1] == pytest.approx(-linear[1, 0])
    assert np.linalg.det(linear) > 0


def test_crop_of_a_synthetic_face_puts_the_landmarks_on_the_template() -> None:
    image = np.zeros((400, 500, 3), dtype=np.uint8)
    known = _similarity(np.deg2rad(25.0), 2.0, 200.0, 60.0)
    landmarks = _apply(known, ARCFACE_TEMPLATE).astype(np.float32)
    for x, y in landmarks:
        cv2.circle(image, (int(round(x)), int(round(y))), 6, (255, 255, 255), -1)

    crop = align_face(image, landmarks)

    assert crop.shape == (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3) and crop.dtype == np.uint8
    for x, y in ARCFACE_TEMPLATE:
        assert crop[int(round(y)), int(round(x))].min() > 200


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_crop_agrees_with_opencv_align_crop(recognizer: Recognizer, tmp_path) -> None:
    image = cv2.imread(str(group_photo()))
    faces = recognizer.detect(image)
    assert len(faces) == 6
    sface_path = locate_model_file(SFACE_INT8, model_dir=None, cache_dir=tmp_path, allow_download=False)
    reference_net = cv2.FaceRecognizerSF.create(str(sface_path), "")

    for face in faces:
        x1, y1, x2, y2 = face.bbox
        row = np.array(
            [[x1, y1, x2 - x1, y2 - y1, *face.landmarks.reshape(-1), face.score]], dtype=np.float32
        )
        theirs = reference_net.alignCrop(image, row)
        ours = align_face(image, face.landmarks)

        assert theirs.shape == ours.shape == (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX, 3)
        pixel_diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean()
        assert pixel_diff < 1.0, f"mean abs pixel difference {pixel_diff:.2f}"
        ours_vec = recognizer.embedder.embed(ours)
        theirs_vec = recognizer.embedder.embed(theirs)
        assert _cosine(ours_vec, theirs_vec) > 0.95
