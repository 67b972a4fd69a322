"""Per-face quality measures for enrollment: size, sharpness, pose from landmarks, exposure, confidence.

Pure numpy/OpenCV on one detected face; the caller decides what is good enough.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from recognition.align import align_face
from recognition.types import BgrImage, DetectedFace, Landmarks5

# Rows and columns of the aligned 112×112 crop that hold the face itself (brows to chin, cheek to
# cheek around the template's eyes at x≈38/74, y≈52 and mouth at y≈92). Background and the black
# border that warpAffine adds beyond the photo's edge stay outside, so they cannot fake sharpness
# or clip the exposure.
FACE_REGION_ROWS = slice(28, 108)
FACE_REGION_COLS = slice(24, 88)

DARK_LEVEL = 5
"""Grey levels at or below this count as clipped to black."""
BRIGHT_LEVEL = 250
"""Grey levels at or above this count as clipped to white."""

# Mean 3-D face, orthographic camera, in units of half the distance between the eye centres: the
# nose tip stands about one unit in front of the eyes and of the mouth corners. MediaPipe's canonical
# face model puts it 3.2 cm before the mouth corners and 4.0 cm before the eye corners' midpoints,
# 3.15 cm from the face's midline; the pupils that detectors mark lie nearer the front than those
# corners, so one unit is the rounded figure for both.
NOSE_DEPTH_HALF_IOD = 1.0


FRONTAL_NOSE_RATIO = 0.56
"""Where the nose tip sits between the eye line (0) and the mouth line (1) on a frontal face.

The median over 7,701 LFW photos with YuNet landmarks is 0.559 (MediaPipe's canonical 3-D face gives
0.54); the ArcFace alignment template's 0.495 would read a typical frontal face as 7° looking down.
"""


@dataclass(frozen=True)
class FaceQuality:
    """Quality measures of one detected face."""

    face_px: int
    """Shorter side of the detector's box, in pixels of the photo."""
    sharpness_laplacian_var: float
    """Variance of the 3×3 Laplacian over the face region of the aligned 112×112 grey crop."""
    yaw_deg: float
    """Left-right head turn estimated from the landmarks; 0 frontal, positive towards image-right."""
    pitch_deg: float
    """Up-down head tilt estimated from the landmarks; 0 frontal, positive looking up."""
    mean_grey_level: float
    """Mean brightness (0..255) over the face region of the aligned grey crop."""
    clipped_fraction: float
    """Fraction (0..1) of that region at or below DARK_LEVEL or at or above BRIGHT_LEVEL."""
    detector_score: float
    """The detector's confidence, 0..1."""


def head_pose_deg(landmarks: Landmarks5) -> tuple[float, float]:
    """Yaw and pitch in degrees from the five landmarks (D2 order).

    An approximation for screening enrollment photos, not a head-pose estimator: the roll is
    removed by turning the eye line horizontal; then, for a mean face under an orthographic camera
    whose nose tip stands NOSE_DEPTH_HALF_IOD half eye distances in front of the eyes and mouth,
    * yaw: the nose's horizontal offset from the midline (the mean of the eye and mouth midpoints),
      divided by half the eye distance, is tan(yaw) × NOSE_DEPTH_HALF_IOD;
    * pitch: FRONTAL_NOSE_RATIO minus the nose's height between the eye line (0) and the mouth
      line (1), times the projected eye-to-mouth distance over the nose depth,
      is sin(pitch).
    A frontal face reads within a few degrees of 0; error grows with perspective, expression and
    landmark noise, and beyond about 45° of yaw the landmarks themselves become unreliable.

    Returns:
        (yaw_deg, pitch_deg): yaw positive when the face turns towards the image's right,
        pitch positive when the face looks up.
    """
    points = landmarks.astype(np.float64)
    eye_vector = points[1] - points[0]
    half_iod = float(np.linalg.norm(eye_vector)) / 2.0
    if half_iod == 0.0:
        return 0.0, 0.0
    cos_roll, sin_roll = eye_vector / (2.0 * half_iod)
    # Origin at the eyes' midpoint, x along the eye line, y down the face.
    derolled = (points - points[:2].mean(axis=0)) @ np.array([[cos_roll, -sin_roll], [sin_roll, cos_roll]])
    nose_x, nose_y = derolled[2]
    mouth_x, mouth_y = derolled[3:].mean(axis=0)
    midline_x = mouth_x / 2.0
    yaw = math.atan2(nose_x - midline_x, half_iod * NOSE_DEPTH_HALF_IOD)
    # Pitch leaves the eye distance alone; yaw shortens it by cos(yaw), which is undone here.
    nose_depth = half_iod / math.cos(yaw) * NOSE_DEPTH_HALF_IOD
    if mouth_y <= 0.0:
        return math.degrees(yaw), 0.0
    sin_pitch = (FRONTAL_NOSE_RATIO - nose_y / mouth_y) * mouth_y / nose_depth
    return math.degrees(yaw), math.degrees(math.asin(max(-1.0, min(1.0, sin_pitch))))


def face_region_grey(image: BgrImage, landmarks: Landmarks5) -> npt.NDArray[np.uint8]:
    """The face region of the aligned crop in grey levels (80×64 uint8)."""
    grey = cv2.cvtColor(align_face(image, landmarks), cv2.COLOR_BGR2GRAY)
    return np.ascontiguousarray(grey[FACE_REGION_ROWS, FACE_REGION_COLS], dtype=np.uint8)


def measure_face(image: BgrImage, face: DetectedFace) -> FaceQuality:
    """Every quality measure of one face.

    Args:
        image: the H×W×3 uint8 BGR photo the face was detected in.
        face: the detected face, box and landmarks in that photo's pixels.
    """
    region = face_region_grey(image, face.landmarks)
    laplacian = cv2.Laplacian(region, cv2.CV_64F, ksize=1)
    clipped = np.count_nonzero((region <= DARK_LEVEL) | (region >= BRIGHT_LEVEL))
    yaw_deg, pitch_deg = head_pose_deg(face.landmarks)
    return FaceQuality(
        face_px=min(face.width_px, face.height_px),
        sharpness_laplacian_var=float(laplacian.var()),
        yaw_deg=yaw_deg,
        pitch_deg=pitch_deg,
        mean_grey_level=float(region.mean()),
        clipped_fraction=clipped / region.size,
        detector_score=face.score,
    )
