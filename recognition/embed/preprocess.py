"""Bundle preprocessing: an aligned crop becomes the tensor a network was trained on."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from recognition.align import ALIGNED_SIZE_PX
from recognition.bundle import Preprocessing
from recognition.types import BgrImage


def network_input(aligned_face: BgrImage, preprocessing: Preprocessing) -> npt.NDArray[np.float32]:
    """One aligned 112×112 BGR crop → a 1×3×H×W float32 tensor as the network was trained on.

    A model whose input is not 112×112 gets the crop resized, which is the same as warping onto the
    ArcFace template scaled to its input size (the template scales with the crop).
    """
    width, height = preprocessing.input_size
    crop: npt.NDArray[np.uint8] = aligned_face
    if (width, height) != (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX):
        crop = np.asarray(cv2.resize(aligned_face, (width, height), interpolation=cv2.INTER_LINEAR))
    if preprocessing.colour_order == "rgb":
        crop = crop[:, :, ::-1]
    pixels = crop.astype(np.float32)
    if not preprocessing.in_graph:
        mean = np.asarray(preprocessing.mean, dtype=np.float32)
        std = np.asarray(preprocessing.std, dtype=np.float32)
        pixels = (pixels / np.float32(255.0) - mean) / std
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])
