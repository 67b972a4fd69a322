"""Every pair of a labelled photo set scored once: same-person pairs are genuine, the rest impostors.

Calibrating FAR 1e-4 needs far more impostor pairs than a pairs list offers: n photos give
n(n-1)/2 pairs (7,701 LFW photos: 29.6 million), scored block by block to bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_BLOCK_ROWS = 1024


def all_pair_scores(
    vectors: npt.NDArray[np.float32], labels: Sequence[str]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cosine scores of every unordered pair of distinct photos.

    Args:
        vectors: n×d unit float32 embeddings.
        labels: the person of each row.

    Returns:
        (genuine, impostor) float32 scores: pairs of the same label, pairs of different labels.

    Raises:
        ValueError: the number of labels differs from the number of vectors.
    """
    if len(labels) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(labels)} labels")
    _, ids = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    genuine: list[npt.NDArray[np.float32]] = []
    impostor: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(vectors), _BLOCK_ROWS):
        block = vectors[start : start + _BLOCK_ROWS]
        scores = block @ vectors.T
        rows = np.arange(start, start + len(block))[:, np.newaxis]
        is_upper = np.arange(len(vectors))[np.newaxis, :] > rows
        is_same = ids[start : start + len(block), np.newaxis] == ids[np.newaxis, :]
        genuine.append(scores[is_upper & is_same])
        impostor.append(scores[is_upper & ~is_same])
    empty = np.empty(0, dtype=np.float32)
    return (
        np.concatenate(genuine).astype(np.float32) if genuine else empty,
        np.concatenate(impostor).astype(np.float32) if impostor else empty,
    )
