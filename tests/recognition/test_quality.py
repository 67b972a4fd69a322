"""Quality measures: pose against projections of a 3-D face, sharpness and exposure on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from recognition import FaceQuality, Recognizer, head_pose_deg, measure_face
from recognition.quality import FRONTAL_NOSE_RATIO, NOSE_DEPTH_HALF_IOD

# The mean face head_pose_deg assumes, in half eye distances: x right, y down, z towards the camera.
EYE_TO_MOUTH = 2.0
MEAN_FACE = np.array(
    [
        [-1.0, -FRONTAL_NOSE_RATIO * EYE_TO_MOUTH, -NOSE_DEPTH_HALF_IOD],
        [1.0, -FRONTAL_NOSE_RATIO * EYE_TO_MOUTH, -NOSE_DEPTH_HALF_IOD],
        [0.0, 0.0, 0.0],
        [-0.8, (1 - FRONTAL_NOSE_RATIO) * EYE_TO_MOUTH, -NOSE_DEPTH_HALF_IOD],
        [0.8, (1 - FRONTAL_NOSE_RATIO) * EYE_TO_MOUTH, -NOSE_DEPTH_HALF_IOD],
    ]
)


def _landmarks(*, yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """The mean face turned by yaw (towards image-right), then pitch (up), then roll; projected
    orthographically at 40 px per half eye distance around (200, 150)."""
    yaw, pitch, roll = (math.radians(angle) for angle in (yaw_deg, pitch_deg, roll_deg))
    turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    tilt = np.array(
        [[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)], [0, math.sin(pitch), math.cos(pitch)]]
    )
    points = (MEAN_FACE @ turn.T @ tilt.T)[:, :2]
    spin = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
    return np.asarray(points @ spin.T * 40.0 + [200.0, 150.0], dtype=np.float32)


@pytest.mark.parametrize("yaw_deg", [-70, -45, -20, 0, 10, 30, 60])
def test_yaw_of_a_projected_face_is_recovered(yaw_deg: float) -> None:
    yaw, pitch = head_pose_deg(_landmarks(yaw_deg=yaw_deg))
    assert yaw == pytest.approx(yaw_deg, abs=0.5)
    assert pitch == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("pitch_deg", [-35, -15, 0, 20, 40])
def test_pitch_of_a_projected_face_is_recovered(pitch_deg: float) -> None:
    yaw, pitch = head_pose_deg(_landmarks(pitch_deg=pitch_deg))
    assert pitch == pytest.approx(pitch_deg, abs=1.0)
    assert yaw == pytest.approx(0.0, abs=0.5)


def test_pose_ignores_roll_and_combines_yaw_and_pitch() -> None:
    upright = head_pose_deg(_landmarks(yaw_deg=25, pitch_deg=-10))
    rolled = head_pose_deg(_landmarks(yaw_deg=25, pitch_deg=-10, roll_deg=35))
    assert rolled == pytest.approx(upright, abs=1e-3)  # float32 landmarks
    assert upright[0] == pytest.approx(25, abs=3) and upright[1] == pytest.approx(-10, abs=3)


def _measure(recognizer: Recognizer, image: np.ndarray) -> FaceQuality:
    (face,) = recognizer.detect(image)
    return measure_face(image, face)


def test_real_photos_frontal_and_turned(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    frontal = recognizer.decode(group_faces[0])
    turned = recognizer.decode(group_faces[4])  # the man in three-quarter profile in t1.jpg
    front, side = _measure(recognizer, frontal), _measure(recognizer, turned)
    mirrored = _measure(recognizer, np.ascontiguousarray(turned[:, ::-1]))
    assert abs(front.yaw_deg) < 15 and abs(front.pitch_deg) < 15
    assert side.yaw_deg < -50
    assert mirrored.yaw_deg > 50, "a mirrored face turns the other way"
    assert 90 <= front.face_px <= 120
    assert 0.85 <= front.detector_score <= 1.0


def test_blur_lowers_sharpness(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    image = recognizer.decode(group_faces[0])
    sharp = _measure(recognizer, image)
    blurred = _measure(recognizer, cv2.GaussianBlur(image, (0, 0), 3.0))
    assert sharp.sharpness_laplacian_var > 150
    assert blurred.sharpness_laplacian_var < sharp.sharpness_laplacian_var / 8
    assert blurred.mean_grey_level == pytest.approx(sharp.mean_grey_level, abs=10)


def test_exposure_of_dark_and_blown_out_copies(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    image = recognizer.decode(group_faces[2])
    normal = _measure(recognizer, image)
    dark = _measure(recognizer, (image * 0.1).astype(np.uint8))
    bright = _measure(recognizer, np.clip(image.astype(np.int16) + 120, 0, 255).astype(np.uint8))
    assert 100 < normal.mean_grey_level < 200 and normal.clipped_fraction < 0.01
    assert dark.mean_grey_level < 25
    assert bright.mean_grey_level > 230 and bright.clipped_fraction > 0.4
