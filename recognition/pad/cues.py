"""Track-level PAD cues: what a screen or a print betrays and one passive score does not see.

Pure functions over a frame and its detected face (frame cues), or over a track's frames and faces in
order (track cues). Each returns one float whose larger values mean "more like an attack"; which cues the gate
computes, and how they are weighed with the passive score, is measured (bench/pad_cues.py) and stored in
the PAD card's track rule, not chosen here.

- `frame_edges`: long straight edges beside the face box, on each of its four sides (the bezel of a phone,
  the edge of a paper), as the mean over the sides of the longest such segment / the face's size.
- `flow_planar`: share of tracked points inside the face that one homography between consecutive frames
  explains (a flat photo or screen moves as a plane; a turning head's nose moves off the plane of its
  eyes and mouth).

Measured and dropped (bench/pad_cues.py, BENCHMARKS.md): screen moiré (spectral peak ratio in the face),
specular glare (saturated colourless pixels), and the 5 landmarks' homography or affine residual across
frames (YuNet's landmark noise is as large as a head's parallax over a few frames).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from recognition.types import BgrImage, DetectedFace

FrameCue = Callable[[BgrImage, DetectedFace], float]
TrackCue = Callable[[Sequence[tuple[BgrImage, DetectedFace]]], float | None]

_EDGE_SEARCH = 1.5
"""The edge search region reaches this many face widths (heights) beyond each side of the face box."""
_EDGE_SLANT_DEG = 30.0
"""A side's edge may lean this far from upright (level): a phone held with roll and in perspective."""
_EDGE_MIN_SHARE = 0.4
"""Shortest segment that counts, as a share of the face box's smaller side."""
_MIN_FLOW_POINTS = 12
_FLOW_TOLERANCE = 0.01


def _region(image: BgrImage, face: DetectedFace) -> tuple[int, int, npt.NDArray[np.uint8]]:
    """The face box grown by _EDGE_SEARCH face sizes on every side, clipped to the frame: (x0, y0, pixels)."""
    x1, y1, x2, y2 = face.bbox
    width, height = max(1, x2 - x1), max(1, y2 - y1)
    frame_h, frame_w = image.shape[:2]
    x0, y0 = max(0, int(x1 - _EDGE_SEARCH * width)), max(0, int(y1 - _EDGE_SEARCH * height))
    x3, y3 = min(frame_w, int(x2 + _EDGE_SEARCH * width)), min(frame_h, int(y2 + _EDGE_SEARCH * height))
    return x0, y0, np.asarray(image[y0:y3, x0:x3], dtype=np.uint8)


def _beyond(centre: float, span: tuple[int, int], names: tuple[str, str]) -> str:
    """names[0] when centre lies before span, names[1] when after it, else ''."""
    if centre < span[0]:
        return names[0]
    return names[1] if centre > span[1] else ""


def _segments(region: npt.NDArray[np.uint8], min_length_px: float) -> list[list[float]]:
    """Straight segments (x1, y1, x2, y2) of at least min_length_px in the region, by OpenCV's LSD."""
    found = cv2.createLineSegmentDetector().detect(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY))[0]
    if found is None:
        return []
    return [
        seg for seg in found[:, 0].tolist() if math.hypot(seg[2] - seg[0], seg[3] - seg[1]) >= min_length_px
    ]


def frame_edges(image: BgrImage, face: DetectedFace) -> float:
    """Mean over the face box's 4 sides of the longest straight edge beyond that side, in face sizes (0..1).

    A segment counts for the left (right) side when it is within 30° of vertical, its centre lies left
    (right) of the box and it overlaps the face's rows; top and bottom likewise. Segments come from the
    LSD line segment detector on the grey search region: Canny + probabilistic Hough, used before, broke a
    bezel tilted by a few degrees into pieces shorter than the minimum (its 1-px edge steps off one Hough
    line), so a phone showing a face close-up scored like a bare wall (BENCHMARKS.md, track cues).
    """
    x0, y0, region = _region(image, face)
    x1, y1, x2, y2 = face.bbox
    width, height = max(1, x2 - x1), max(1, y2 - y1)
    if region.shape[0] < 8 or region.shape[1] < 8:
        return 0.0
    sides = dict.fromkeys(("left", "right", "top", "bottom"), 0.0)
    slant = math.tan(math.radians(_EDGE_SLANT_DEG))
    for ax, ay, bx, by in _segments(region, max(10, int(_EDGE_MIN_SHARE * min(width, height)))):
        ax, bx, ay, by = ax + x0, bx + x0, ay + y0, by + y0
        dx, dy = abs(bx - ax), abs(by - ay)
        if dx <= dy * slant and min(ay, by) < y2 and max(ay, by) > y1:  # upright, beside the face
            side, extent = _beyond((ax + bx) / 2, (x1, x2), ("left", "right")), height
        elif dy <= dx * slant and min(ax, bx) < x2 and max(ax, bx) > x1:  # level, above or below it
            side, extent = _beyond((ay + by) / 2, (y1, y2), ("top", "bottom")), width
        else:
            continue
        if side:
            sides[side] = max(sides[side], min(1.0, math.hypot(dx, dy) / extent))
    return sum(sides.values()) / len(sides)


def flow_planar(frames: Sequence[tuple[BgrImage, DetectedFace]]) -> float | None:
    """Mean over consecutive frame pairs of the share (0..1) of face points that one homography explains.

    Corners (Shi-Tomasi) inside the earlier frame's face box are tracked into the next frame (pyramidal
    Lucas-Kanade); a RANSAC homography with a tolerance of 1% of the face width (at least 1 px) is fitted,
    and the share of tracked points within it is the pair's value (0 when none fits). A photo or a screen
    moves as a plane (share near 1, less where a screen's moiré slides across the face); a head turning
    does not. A head held still is planar too between two frames. A pair with fewer than 12 tracked points
    is skipped; None when no pair is left.
    """
    shares = []
    for (first, face), (second, _) in zip(frames, frames[1:], strict=False):
        x1, y1, x2, y2 = face.bbox
        grey_a = cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
        grey_b = cv2.cvtColor(second, cv2.COLOR_BGR2GRAY)
        if grey_a.shape != grey_b.shape:
            continue
        mask = np.zeros_like(grey_a)
        mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = 255
        points = cv2.goodFeaturesToTrack(grey_a, 200, 0.01, 4, mask=mask)
        if points is None or len(points) < _MIN_FLOW_POINTS:
            continue
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            grey_a, grey_b, points, np.empty_like(points), winSize=(21, 21), maxLevel=3
        )
        tracked = status[:, 0] == 1
        if int(tracked.sum()) < _MIN_FLOW_POINTS:
            continue
        tolerance_px = max(1.0, _FLOW_TOLERANCE * (x2 - x1))
        homography, inliers = cv2.findHomography(points[tracked], moved[tracked], cv2.RANSAC, tolerance_px)
        shares.append(0.0 if homography is None else float(inliers.mean()))
    return float(np.mean(shares)) if shares else None


FRAME_CUES: dict[str, FrameCue] = {"frame_edges": frame_edges}
TRACK_CUES: dict[str, TrackCue] = {"flow_planar": flow_planar}
CUE_NAMES = (*FRAME_CUES, *TRACK_CUES)
