"""FaissFlatGallery against a brute-force numpy reference: add, remove and search agree (K4)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from recognition import FaissFlatGallery, IndexStateError

DIM = 32


def _unit(rng: np.random.Generator, count: int, dim: int = DIM) -> np.ndarray:
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class BruteForceGallery:
    """Reference: a dict of templates; search scores every template and keeps each person's best."""

    def __init__(self) -> None:
        self.templates: dict[str, tuple[int, np.ndarray]] = {}

    def add(self, key: str, person_id: int, vector: np.ndarray) -> None:
        self.templates[key] = (person_id, vector)

    def remove_person(self, person_id: int) -> int:
        keys = [key for key, (owner, _) in self.templates.items() if owner == person_id]
        for key in keys:
            del self.templates[key]
        return len(keys)

    def search(self, probe: np.ndarray, k: int) -> list[tuple[int, float]]:
        best: dict[int, float] = {}
        for owner, vector in self.templates.values():
            score = float(np.dot(probe.astype(np.float64), vector.astype(np.float64)))
            best[owner] = max(best.get(owner, -np.inf), score)
        return sorted(best.items(), key=lambda item: -item[1])[:k]


def _assert_same(gallery: FaissFlatGallery, reference: BruteForceGallery, probe: np.ndarray, k: int) -> None:
    expected = reference.search(probe, k)
    got = gallery.search(probe, k)
    assert len(got) == len(expected)
    for match, (person_id, score) in zip(got, expected, strict=True):
        assert match.score == pytest.approx(score, abs=1e-5)
        # Persons with (numerically) tied scores may come in either order; the score must still agree.
        if match.person_id != person_id:
            assert dict(expected).get(match.person_id) == pytest.approx(match.score, abs=1e-5)
    assert len({match.person_id for match in got}) == len(got)
    scores = [match.score for match in got]
    assert scores == sorted(scores, reverse=True)


def _populate(rng: np.random.Generator, gallery: FaissFlatGallery, reference: BruteForceGallery) -> list[int]:
    persons = list(rng.choice(10_000, size=int(rng.integers(3, 12)), replace=False))
    for person_id in persons:
        count = int(rng.integers(1, 7))
        for index, vector in enumerate(_unit(rng, count)):
            key = f"p{person_id}-t{index}"
            gallery.add(key, int(person_id), vector)
            reference.add(key, int(person_id), vector)
    return [int(person_id) for person_id in persons]


@pytest.mark.parametrize("seed", range(8))
def test_add_remove_search_agree_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gallery, reference = FaissFlatGallery(model_id="m", dim=DIM), BruteForceGallery()
    persons = _populate(rng, gallery, reference)
    assert len(gallery) == len(reference.templates)

    for probe in _unit(rng, 10):
        for k in (1, 2, 3, len(persons), len(persons) + 5):
            _assert_same(gallery, reference, probe, k)
    # A probe equal to a stored template finds its owner with score 1.
    key, (owner, vector) = next(iter(reference.templates.items()))
    top = gallery.search(vector, 1)
    assert top[0].person_id == owner and top[0].score == pytest.approx(1.0, abs=1e-5)

    removed = persons[: len(persons) // 2]
    for person_id in removed:
        assert gallery.remove_person(person_id) == reference.remove_person(person_id)
    assert len(gallery) == len(reference.templates)
    for probe in _unit(rng, 10):
        for k in (1, 3, len(persons)):
            _assert_same(gallery, reference, probe, k)
            assert not {match.person_id for match in gallery.search(probe, k)} & set(removed)

    # Adding after removal keeps the two in step (FAISS ids are never reused).
    extra = _unit(rng, 3)
    for index, vector in enumerate(extra):
        gallery.add(f"late-{index}", 777_777, vector)
        reference.add(f"late-{index}", 777_777, vector)
    for probe in (*_unit(rng, 5), extra[0]):
        _assert_same(gallery, reference, probe, len(persons))


@pytest.mark.parametrize("seed", range(3))
def test_top_k_is_exact_when_one_person_owns_most_near_templates(seed: int) -> None:
    """A person with many templates close to the probe must not push the runner-up out of the answer."""
    rng = np.random.default_rng(100 + seed)
    gallery, reference = FaissFlatGallery(model_id="m", dim=DIM), BruteForceGallery()
    probe = _unit(rng, 1)[0]
    crowd = probe + 0.05 * rng.normal(size=(60, DIM)).astype(np.float32)
    for index, vector in enumerate(crowd / np.linalg.norm(crowd, axis=1, keepdims=True)):
        gallery.add(f"crowd-{index}", 1, vector.astype(np.float32))
        reference.add(f"crowd-{index}", 1, vector.astype(np.float32))
    for person_id in range(2, 6):
        vector = _unit(rng, 1)[0]
        gallery.add(f"other-{person_id}", person_id, vector)
        reference.add(f"other-{person_id}", person_id, vector)

    for k in (1, 2, 3, 5):
        _assert_same(gallery, reference, probe, k)
    assert len(gallery.search(probe, 2)) == 2


def test_remove_person_then_search_never_returns_them() -> None:
    rng = np.random.default_rng(7)
    gallery = FaissFlatGallery(model_id="m", dim=DIM)
    target = _unit(rng, 4)
    for index, vector in enumerate(target):
        gallery.add(f"a{index}", 1, vector)
    gallery.add("b0", 2, _unit(rng, 1)[0])

    assert gallery.remove_person(1) == 4
    assert gallery.remove_person(1) == 0
    assert len(gallery) == 1
    for vector in target:
        assert [match.person_id for match in gallery.search(vector, 5)] == [2]
    # The keys of a removed person are free again.
    gallery.add("a0", 3, target[0])
    assert gallery.search(target[0], 1)[0].person_id == 3


def test_empty_gallery_returns_no_matches() -> None:
    gallery = FaissFlatGallery(model_id="m", dim=DIM)
    probe = _unit(np.random.default_rng(1), 1)[0]

    assert len(gallery) == 0
    assert gallery.search(probe, 3) == []
    gallery.add("x", 1, probe)
    gallery.remove_person(1)
    assert gallery.search(probe, 3) == []


def test_duplicate_template_key_is_refused() -> None:
    gallery = FaissFlatGallery(model_id="m", dim=DIM)
    vectors = _unit(np.random.default_rng(2), 2)
    gallery.add("same", 1, vectors[0])

    with pytest.raises(IndexStateError, match="same"):
        gallery.add("same", 2, vectors[1])
    assert len(gallery) == 1
    assert gallery.search(vectors[1], 5)[0].person_id == 1


@pytest.mark.parametrize(
    "vector",
    [
        np.zeros(DIM + 1, dtype=np.float32),
        np.zeros(DIM - 1, dtype=np.float32),
        np.zeros(DIM, dtype=np.float64),
        np.zeros(DIM, dtype=np.float16),
        np.zeros((1, DIM), dtype=np.float32),
    ],
    ids=["too-long", "too-short", "float64", "float16", "2-d"],
)
def test_wrong_shape_or_dtype_is_refused(vector: np.ndarray) -> None:
    gallery = FaissFlatGallery(model_id="m", dim=DIM)
    gallery.add("ok", 1, _unit(np.random.default_rng(3), 1)[0])

    with pytest.raises(IndexStateError, match="float32"):
        gallery.add("bad", 2, vector)
    with pytest.raises(IndexStateError, match="float32"):
        gallery.search(vector, 1)
    assert len(gallery) == 1


def test_k_below_one_is_refused() -> None:
    gallery = FaissFlatGallery(model_id="m", dim=DIM)
    with pytest.raises(IndexStateError, match="k must be"):
        gallery.search(np.zeros(DIM, dtype=np.float32), 0)


@pytest.mark.parametrize("seed", range(5))
def test_confusable_pairs_match_a_loop_over_every_pair_of_templates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gallery, reference = FaissFlatGallery(model_id="m", dim=8), BruteForceGallery()
    for index, vector in enumerate(_unit(rng, 40, dim=8)):  # 8-d: many pairs score high together
        person_id = int(rng.integers(1, 12))  # several templates per person, added in no order
        gallery.add(f"t{index}", person_id, vector)
        reference.add(f"t{index}", person_id, vector)
    templates = list(reference.templates.values())
    for min_score in (-1.0, 0.3, 0.8):
        expected: dict[tuple[int, int], float] = {}
        for (a, u), (b, v) in itertools.combinations(templates, 2):
            score = float(np.dot(u.astype(np.float64), v.astype(np.float64)))
            if a != b and score >= min_score:
                pair = (min(a, b), max(a, b))
                expected[pair] = max(expected.get(pair, -1.0), score)
        found = gallery.confusable_pairs(min_score)
        assert found.keys() == expected.keys()
        assert all(found[pair] == pytest.approx(score, abs=1e-5) for pair, score in expected.items())
    assert FaissFlatGallery(model_id="m", dim=8).confusable_pairs(0.3) == {}
