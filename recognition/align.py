"""Five-point similarity alignment onto the 112×112 ArcFace template (D3).

Enrollment, the gate and training all call `align_face`, so their crops are identical.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from recognition.types import BgrImage, Landmarks5

ALIGNED_SIZE_PX = 112

# insightface `arcface_dst`: the reference positions of the five landmarks in a 112×112 crop.
ARCFACE_TEMPLATE: npt.NDArray[np.float32] = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(src: Landmarks5, dst: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Least-squares similarity transform (rotation, uniform scale, translation) mapping src to dst.

    Closed form of Umeyama (1991), the estimator insightface uses through scikit-image; unlike
    cv2.estimateAffinePartial2D with LMEDS it uses all five points, which keeps crops stable.

    Returns:
        2×3 float64 affine matrix for cv2.warpAffine.
    """
    src64 = src.astype(np.float64)
    dst64 = dst.astype(np.float64)
    src_mean, dst_mean = src64.mean(axis=0), dst64.mean(axis=0)
    src_c, dst_c = src64 - src_mean, dst64 - dst_mean
    cov = dst_c.T @ src_c / len(src64)
    u, singular, vt = np.linalg.svd(cov)
    reflect = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflect[1, 1] = -1.0
    rotation = u @ reflect @ vt
    scale = float(np.trace(np.diag(singular) @ reflect) / src_c.var(axis=0).sum())
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def align_face(image: BgrImage, landmarks: Landmarks5) -> BgrImage:
    """Warp a face onto the ArcFace template.

    Args:
        image: the full H×W×3 uint8 BGR frame the landmarks were found in.
        landmarks: 5×2 float32 landmarks in that frame's pixels (D2 order).

    Returns:
        112×112×3 uint8 BGR crop.
    """
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE)
    crop = cv2.warpAffine(image, matrix, (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX), borderValue=(0, 0, 0))
    return np.ascontiguousarray(crop, dtype=np.uint8)
