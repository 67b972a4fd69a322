"""Look-alike pairs loaded at once (arrays) and changed later (dict beside them), against a plain dict."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.lookalike import (
    LookalikePairs,
    best_pairs,
    neighbours_from_bytes,
    neighbours_to_bytes,
)


def test_neighbour_records_round_trip() -> None:
    persons, scores = np.array([7, 2**40], dtype=np.int64), np.array([0.5, 0.91], dtype=np.float32)
    back_persons, back_scores = neighbours_from_bytes(neighbours_to_bytes(persons, scores))
    assert back_persons.tolist() == persons.tolist() and back_scores.tolist() == scores.tolist()
    assert [len(a) for a in neighbours_from_bytes(b"")] == [0, 0]


def test_loaded_pairs_answer_like_a_dict_through_removal_and_re_adding() -> None:
    rng = np.random.default_rng(5)
    owners, others = rng.integers(1, 30, size=300), rng.integers(1, 30, size=300)
    scores = rng.uniform(0.0, 1.0, size=300).astype(np.float32)
    keep = owners != others
    reference: dict[tuple[int, int], float] = {}
    for a, b, score in zip(owners[keep].tolist(), others[keep].tolist(), scores[keep].tolist(), strict=True):
        pair = (min(a, b), max(a, b))
        reference[pair] = max(reference.get(pair, -1.0), score)
    pairs = LookalikePairs(min_score=0.2)
    pairs.load(best_pairs(owners[keep], others[keep], scores[keep]))
    reference = {pair: score for pair, score in reference.items() if score >= 0.2}

    def agrees() -> None:
        assert len(pairs) == len(reference)
        assert pairs.at_least(0.2) == pytest.approx(reference)
        for a in range(1, 30):
            for b in range(1, 30):
                expected = reference.get((min(a, b), max(a, b)))
                assert pairs.score(a, b) == (None if expected is None else pytest.approx(expected))

    agrees()
    for removed in (3, 17, 3):
        pairs.remove_person(removed)
        reference = {pair: score for pair, score in reference.items() if removed not in pair}
        agrees()
    pairs.merge({(3, 4): 0.95, (1, 2): 0.99})  # person 3 added again; a loaded pair found better
    reference[(3, 4)] = 0.95
    reference[(1, 2)] = max(reference.get((1, 2), -1.0), 0.99)
    agrees()
