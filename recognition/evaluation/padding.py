"""Fill the black warp padding of deep-funnelled LFW photos, so that edge cues see the photo, not its border.

LFW's deep-funnelled photos are warped into alignment: the original photo's rectangle lands rotated and
shifted in the 250×250 canvas and the canvas around it stays black. Its border is a straight-sided frame
around the face, exactly what `frame_edges` looks for, and MiniFASNet scores it as an attack more often
too (BENCHMARKS.md, track cues). A door camera's frame has no such border, so the PAD bench measures
lockout on LFW with the padding filled in from the photo's own edge pixels.

Padding is what lies outside the convex hull of the photo's non-black pixels (the warped photo is a
convex quadrilateral). A genuinely black background inside the photo is kept; one reaching a corner of
the canvas may be counted as padding and is then filled from its own black neighbours, which changes little.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from recognition.types import BgrImage

_DARK_MAX = 20
"""Pixels whose brightest channel is at most this are candidates for padding (JPEG leaves it near 0)."""
_GROW_PX = 3
"""The mask grows by this much, so that the padding's JPEG ringing along its edge is filled too."""
_INPAINT_RADIUS_PX = 5


def warp_padding_mask(image: BgrImage) -> npt.NDArray[np.uint8]:
    """H×W uint8, 1 where the pixel lies outside the convex hull of the photo's non-black pixels."""
    bright = np.asarray(image.max(axis=2) > _DARK_MAX, dtype=np.uint8)
    content = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # drop stray specks
    points = cv2.findNonZero(content)
    mask = np.ones(content.shape, np.uint8)
    if points is None:  # all black: nothing to fill from
        return np.zeros_like(mask)
    cv2.fillConvexPoly(mask, cv2.convexHull(points), 0)
    return mask


def fill_warp_padding(image: BgrImage) -> BgrImage:
    """The photo with its warp padding inpainted (Telea) from the neighbouring photo pixels; same shape."""
    kernel = np.ones((2 * _GROW_PX + 1, 2 * _GROW_PX + 1), np.uint8)
    mask = cv2.dilate(warp_padding_mask(image), kernel)
    if not mask.any():
        return image
    return np.asarray(cv2.inpaint(image, mask, _INPAINT_RADIUS_PX, cv2.INPAINT_TELEA), dtype=np.uint8)
