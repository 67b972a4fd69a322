"""Look-alike pairs beside the index: each template's nearest other people, from a k-NN search.

A template's neighbours can be stored beside it (person ids and cosines, no template data, in the
byte form below) when it is enrolled, so a gallery loading a million templates reads them instead of
searching every template again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError
from recognition.index.book import REMOVED

PairScores = dict[tuple[int, int], float]

_NEIGHBOUR = np.dtype([("person", "<i8"), ("score", "<f4")])

PairArrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]
"""(lower person ids, higher person ids, best cosine) of distinct pairs, sorted by (lower, higher)."""


def neighbours_to_bytes(persons: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]) -> bytes:
    """One template's neighbours (person id, cosine) as stored: little-endian int64 and float32 records."""
    records = np.empty(len(persons), dtype=_NEIGHBOUR)
    records["person"], records["score"] = persons, scores
    return records.tobytes()


def neighbours_from_bytes(data: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """(person ids, cosines) from `neighbours_to_bytes`; raises IndexStateError on a malformed length."""
    if len(data) % _NEIGHBOUR.itemsize:
        raise IndexStateError(f"stored look-alike neighbours have {len(data)} bytes, not records")
    records = np.frombuffer(data, dtype=_NEIGHBOUR)
    return records["person"].astype(np.int64), records["score"].astype(np.float32)


def best_pairs(
    owners: npt.NDArray[np.int64], persons: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]
) -> PairArrays:
    """Distinct (lower, higher) pairs of the same-length arrays owners × persons, best score each."""
    low, high = np.minimum(owners, persons), np.maximum(owners, persons)
    order = np.lexsort((-scores, high, low))
    low, high, best = low[order], high[order], scores[order]
    first = np.ones(len(low), dtype=bool)
    first[1:] = (low[1:] != low[:-1]) | (high[1:] != high[:-1])
    return low[first], high[first], best[first].astype(np.float32)


LookalikeHits = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]
"""(owner, other person, cosine) of each look-alike hit, three arrays of one length."""


def no_hits() -> LookalikeHits:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


def hit_mask(
    owners: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    persons: npt.NDArray[np.int64],
    *,
    min_score: float,
) -> npt.NDArray[np.bool_]:
    """(n, k) whether each k-NN hit is another person's template scoring `min_score` or more."""
    hit: npt.NDArray[np.bool_] = (persons != REMOVED) & (persons != owners[:, None]) & (scores >= min_score)
    return hit


def neighbour_hits(
    owners: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    persons: npt.NDArray[np.int64],
    *,
    min_score: float,
) -> LookalikeHits:
    """Each k-NN hit on another person scoring `min_score` or more.

    Args:
        owners: (n,) person id of each query template.
        scores: (n, k) exact cosine of each query's k nearest templates.
        persons: (n, k) their person ids, REMOVED for none.
        min_score: hits below this cosine are left out.
    """
    rows, cols = np.nonzero(hit_mask(owners, scores, persons, min_score=min_score))
    return owners[rows], persons[rows, cols], scores[rows, cols].astype(np.float32)


def stored_hits(
    owners: npt.NDArray[np.int64], records: Sequence[bytes | None], *, min_score: float
) -> LookalikeHits:
    """The hits in stored neighbour records (`neighbours_to_bytes`), one record or None per owner.

    Decoded in one piece (a million small decodes would hold the GIL for seconds).

    Raises:
        IndexStateError: a malformed record.
    """
    present = [(owner, record) for owner, record in zip(owners.tolist(), records, strict=True) if record]
    lengths = np.asarray([len(record) for _, record in present], dtype=np.int64)
    if np.any(lengths % _NEIGHBOUR.itemsize):
        raise IndexStateError("a stored look-alike neighbour record has a length that is not whole records")
    persons, scores = neighbours_from_bytes(b"".join(record for _, record in present))
    counts = lengths // _NEIGHBOUR.itemsize
    hit_owners = np.repeat(np.asarray([owner for owner, _ in present], dtype=np.int64), counts)
    keep = (persons != hit_owners) & (persons != REMOVED) & (scores >= min_score)
    return hit_owners[keep], persons[keep], scores[keep]


def pair_scores(pairs: PairArrays) -> PairScores:
    """The pairs as a dict (lower id, higher id) → best cosine."""
    low, high, best = pairs
    return dict(zip(zip(low.tolist(), high.tolist(), strict=True), best.tolist(), strict=True))


class LookalikePairs:
    """Pairs of people whose templates sit among each other's nearest, with their best cosine.

    A full load hands every pair over at once as sorted arrays (`load`: a million templates give
    millions of pairs, too many for Python objects); later changes go to a small dict beside them,
    and a removed person's loaded pairs are voided. Written by one thread; membership tests from
    others are safe (dict and set reads under the GIL, arrays replaced only by `load`).
    """

    def __init__(self, *, min_score: float) -> None:
        self.min_score = min_score
        self._best: PairScores = {}
        self._partners: dict[int, set[int]] = {}
        empty = np.empty(0, dtype=np.int64)
        self._loaded: PairArrays = (empty, empty, np.empty(0, dtype=np.float32))
        self._loaded_live = 0
        self._voided: set[int] = set()

    def __len__(self) -> int:
        """How many distinct pairs (a pair both loaded and found again counts once)."""
        again = sum(1 for pair in list(self._best) if self._live_loaded_score(*pair) is not None)
        return len(self._best) + self._loaded_live - again

    def __bool__(self) -> bool:
        return bool(self._best) or self._loaded_live > 0

    def load(self, pairs: PairArrays) -> None:
        """Take every pair of a new gallery at once (sorted as `best_pairs` gives them), replacing all."""
        low, high, best = pairs
        self._best, self._partners, self._voided = {}, {}, set()
        keep = best >= self.min_score
        self._loaded = (low[keep], high[keep], best[keep])
        self._loaded_live = int(np.count_nonzero(keep))

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
        if person_id in self._voided or not self._loaded_live:
            return
        low, high, _ = self._loaded
        involved = (low == person_id) | (high == person_id)
        others = np.where(low[involved] == person_id, high[involved], low[involved])
        self._loaded_live -= int(np.count_nonzero(~np.isin(others, list(self._voided))))
        self._voided.add(person_id)

    def score(self, first: int, second: int) -> float | None:
        """The pair's best cosine, None when it is not a known look-alike pair."""
        pair = (min(first, second), max(first, second))
        found = self._best.get(pair)
        loaded = self._live_loaded_score(*pair)
        if found is None or loaded is None:
            return loaded if found is None else found
        return max(found, loaded)

    def at_least(self, min_score: float) -> PairScores:
        """Every recorded pair scoring `min_score` or more (a copy)."""
        low, high, best = self._loaded
        keep = best >= min_score
        if self._voided:
            voided = list(self._voided)
            keep &= ~np.isin(low, voided) & ~np.isin(high, voided)
        found = dict(
            zip(zip(low[keep].tolist(), high[keep].tolist(), strict=True), best[keep].tolist(), strict=True)
        )
        for pair, score in list(self._best.items()):
            if score >= min_score and score > found.get(pair, -np.inf):
                found[pair] = score
        return found

    def _live_loaded_score(self, low_id: int, high_id: int) -> float | None:
        if low_id in self._voided or high_id in self._voided:
            return None
        low, high, best = self._loaded
        start, stop = np.searchsorted(low, low_id, side="left"), np.searchsorted(low, low_id, side="right")
        at = start + int(np.searchsorted(high[start:stop], high_id))
        return float(best[at]) if at < stop and high[at] == high_id else None
