"""The crop MiniFASNet was trained on: a face box widened around its centre, shifted inside the frame.

`reference_box` reproduces minivision-ai/Silent-Face-Anti-Spoofing @b6d5f04 `generate_patches.py`
(`CropImage._get_new_box`) exactly, including its integer truncation. The authors' box comes from their own
Caffe RetinaFace; `BoxCorrection` maps another detector's box onto that geometry (measured in
bench/pad_crop.py), because the nets are sensitive to how much background the crop shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from recognition.types import BBox, BgrImage


@dataclass(frozen=True)
class BoxCorrection:
    """Our detector's box → the reference detector's box: width and height scaled, centre shifted.

    Shifts are in units of our box's width (x) and height (y); the identity correction changes nothing.
    """

    width_scale: float = 1.0
    height_scale: float = 1.0
    centre_shift_x: float = 0.0
    centre_shift_y: float = 0.0

    def apply(self, bbox: BBox) -> tuple[float, float, float, float]:
        """The corrected box as (x, y, width, height) floats, as the reference passes it on."""
        x1, y1, x2, y2 = bbox
        width, height = x2 - x1, y2 - y1
        centre_x = (x1 + x2) / 2 + self.centre_shift_x * width
        centre_y = (y1 + y2) / 2 + self.centre_shift_y * height
        new_w, new_h = width * self.width_scale, height * self.height_scale
        return centre_x - new_w / 2, centre_y - new_h / 2, new_w, new_h


def reference_box(
    frame_w: int, frame_h: int, box_xywh: tuple[float, float, float, float], scale: float
) -> tuple[int, int, int, int]:
    """The reference's crop window (left, top, right, bottom), inclusive, inside a frame_w×frame_h frame."""
    x, y, box_w, box_h = box_xywh
    scale = min((frame_h - 1) / box_h, (frame_w - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    centre_x, centre_y = box_w / 2 + x, box_h / 2 + y
    left, top = centre_x - new_w / 2, centre_y - new_h / 2
    right, bottom = centre_x + new_w / 2, centre_y + new_h / 2
    if left < 0:
        right, left = right - left, 0
    if top < 0:
        bottom, top = bottom - top, 0
    if right > frame_w - 1:
        left, right = left - (right - frame_w + 1), frame_w - 1
    if bottom > frame_h - 1:
        top, bottom = top - (bottom - frame_h + 1), frame_h - 1
    return int(left), int(top), int(right), int(bottom)


def crop_scale_ratio(
    frame_w: int, frame_h: int, box_xywh: tuple[float, float, float, float], scale: float
) -> float:
    """The share (0..1] of `scale` the reference's crop keeps inside the frame (1.0: the widened box fits).

    The reference shrinks the scale to what the frame allows; a face filling its photo (ORL's 92×112
    headshots: 0.35–0.47 at scale 2.7) is then seen far closer than the nets were trained on.
    """
    _, _, box_w, box_h = box_xywh
    return min((frame_h - 1) / box_h, (frame_w - 1) / box_w, scale) / scale


def _replicated(
    image: BgrImage, box_xywh: tuple[float, float, float, float], scale: float
) -> tuple[BgrImage, tuple[float, float, float, float]]:
    """The frame grown by edge replication so the box widened by `scale` fits, and the box in it."""
    x, y, box_w, box_h = box_xywh
    frame_h, frame_w = image.shape[:2]
    half_w, half_h = box_w * scale / 2 + 1, box_h * scale / 2 + 1
    centre_x, centre_y = x + box_w / 2, y + box_h / 2
    left = max(0, int(half_w - centre_x) + 1)
    top = max(0, int(half_h - centre_y) + 1)
    right = max(0, int(centre_x + half_w - frame_w) + 1)
    bottom = max(0, int(centre_y + half_h - frame_h) + 1)
    if not (left or top or right or bottom):
        return image, box_xywh
    grown = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return np.asarray(grown, dtype=np.uint8), (x + left, y + top, box_w, box_h)


def pad_crop(
    image: BgrImage,
    box_xywh: tuple[float, float, float, float],
    *,
    scale: float,
    side_px: int,
    is_border_replicated: bool = False,
) -> BgrImage:
    """The side_px×side_px BGR patch of `image` around the box widened by `scale` (bilinear resize).

    The reference shrinks the scale when the widened box leaves the frame, so a face filling its photo is
    seen far closer than the nets were trained on; `is_border_replicated` keeps the scale by growing the
    frame with its edge pixels instead (bench/pad_crop.py measures both).
    """
    if is_border_replicated:
        image, box_xywh = _replicated(image, box_xywh, scale)
    frame_h, frame_w = image.shape[:2]
    left, top, right, bottom = reference_box(frame_w, frame_h, box_xywh, scale)
    patch = image[max(0, top) : bottom + 1, max(0, left) : right + 1]
    return cv2.resize(patch, (side_px, side_px), interpolation=cv2.INTER_LINEAR)  # type: ignore[return-value]
