"""Look-alike pairs beside the index: each template's nearest other people, from a k-NN search."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from recognition.index.book import REMOVED

PairScores = dict[tuple[int, int], float]


def neighbour_pairs(
    owners: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    persons: npt.NDArray[np.int64],
    *,
    min_score: float,
) -> PairScores:
    """Best score of every (lower id, higher id) pair found among each template's nearest templates.

    Args:
        owners: (n,) person id of each query template.
        scores: (n, k) exact cosine of each query's k nearest templates.
        persons: (n, k) their person ids, REMOVED for none.
        min_score: pairs below this cosine are left out.
    """
    hit = (persons != REMOVED) & (persons != owners[:, None]) & (scores >= min_score)
    rows, cols = np.nonzero(hit)
    if len(rows) == 0:
        return {}
    a, b = owners[rows], persons[rows, cols]
    low, high, best = np.minimum(a, b), np.maximum(a, b), scores[rows, cols]
    order = np.lexsort((-best, high, low))
    low, high, best = low[order], high[order], best[order]
    first = np.ones(len(low), dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    return dict(
        zip(zip(low[first].tolist(), high[first].tolist(), strict=True), best[first].tolist(), strict=True)
    )


class LookalikePairs:
    """Pairs of people whose templates sit among each other's nearest, with their best cosine.

    Written by one thread; membership tests from others are safe (dict reads under the GIL).
    """

    def __init__(self, *, min_score: float) -> None:
        self.min_score = min_score
        self._best: PairScores = {}
        self._partners: dict[int, set[int]] = {}

    def __len__(self) -> int:
        return len(self._best)

    def merge(self, found: PairScores) -> None:
        """Record pairs found by a search, keeping the best score of a pair found twice."""
        for pair, score in found.items():
            if score > self._best.get(pair, -np.inf):
                self._best[pair] = score
            self._partners.setdefault(pair[0], set()).add(pair[1])
            self._partners.setdefault(pair[1], set()).add(pair[0])

    def remove_person(self, person_id: int) -> None:
        for other in self._partners.pop(person_id, set()):
            self._best.pop((min(person_id, other), max(person_id, other)), None)
            self._partners.get(other, set()).discard(person_id)

    def score(self, first: int, second: int) -> float | None:
        """The pair's best cosine, None when it is not a known look-alike pair."""
        return self._best.get((min(first, second), max(first, second)))

    def at_least(self, min_score: float) -> PairScores:
        """Every recorded pair scoring `min_score` or more (a copy)."""
        return {pair: score for pair, score in list(self._best.items()) if score >= min_score}
