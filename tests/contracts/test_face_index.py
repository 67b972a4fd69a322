"""Every registered FaceIndex kind, inside the Gallery service, against a brute-force reference (K1, K4).

Each kind runs with the settings that make it answer exactly on these small galleries (every IVF
list probed, a deep HNSW search), so any disagreement with the reference is a bug, not recall.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recognition import (
    INDEXES,
    FaissFactoryIndexConfig,
    FlatIndexConfig,
    Gallery,
    IndexConfig,
    IndexStateError,
    build_index,
)

DIM = 32
BUILDS: dict[str, IndexConfig] = {
    "flat": FlatIndexConfig(),
    "factory-below-threshold": FaissFactoryIndexConfig(exact_max_templates=100_000),
    "factory-ivf": FaissFactoryIndexConfig(
        factory="IVF2,Flat", search_params="nprobe=2", exact_max_templates=8
    ),
    "factory-ivf-hnsw": FaissFactoryIndexConfig(
        factory="IVF2_HNSW8,SQ8", search_params="nprobe=2", exact_max_templates=8
    ),
    "factory-hnsw": FaissFactoryIndexConfig(
        factory="HNSW8", search_params="efSearch=128", exact_max_templates=8
    ),
}
LOOKALIKE_TEMPLATES = 3


def test_every_registered_kind_is_in_the_suite() -> None:
    assert {config.kind for config in BUILDS.values()} == set(INDEXES)


@pytest.fixture(params=list(BUILDS))
def new_gallery(request: pytest.FixtureRequest) -> Callable[..., Gallery]:
    def make(*, dim: int = DIM, lookalike_min_cos: float = -1.0) -> Gallery:
        index = build_index(BUILDS[request.param], model_id="m", dim=dim)
        return Gallery(index, lookalike_min_cos=lookalike_min_cos, lookalike_templates=LOOKALIKE_TEMPLATES)

    return make


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


def _assert_same(gallery: Gallery, reference: BruteForceGallery, probe: np.ndarray, k: int) -> None:
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


def _populate(rng: np.random.Generator, gallery: Gallery, reference: BruteForceGallery) -> list[int]:
    persons = list(rng.choice(10_000, size=int(rng.integers(3, 12)), replace=False))
    for person_id in persons:
        count = int(rng.integers(1, 7))
        for index, vector in enumerate(_unit(rng, count)):
            key = f"p{person_id}-t{index}"
            gallery.add(key, int(person_id), vector)
            reference.add(key, int(person_id), vector)
    return [int(person_id) for person_id in persons]


@pytest.mark.parametrize("seed", range(8))
def test_add_remove_search_agree_with_brute_force(seed: int, new_gallery) -> None:
    rng = np.random.default_rng(seed)
    gallery, reference = new_gallery(), BruteForceGallery()
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
def test_top_k_is_exact_when_one_person_owns_most_near_templates(seed: int, new_gallery) -> None:
    """A person with many templates close to the probe must not push the runner-up out of the answer."""
    rng = np.random.default_rng(100 + seed)
    gallery, reference = new_gallery(), BruteForceGallery()
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


def test_remove_person_then_search_never_returns_them(new_gallery) -> None:
    rng = np.random.default_rng(7)
    gallery = new_gallery()
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


def test_empty_gallery_returns_no_matches(new_gallery) -> None:
    gallery = new_gallery()
    probe = _unit(np.random.default_rng(1), 1)[0]

    assert len(gallery) == 0
    assert gallery.search(probe, 3) == []
    gallery.add("x", 1, probe)
    gallery.remove_person(1)
    assert gallery.search(probe, 3) == []


def test_duplicate_template_key_is_refused(new_gallery) -> None:
    gallery = new_gallery()
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
def test_wrong_shape_or_dtype_is_refused(vector: np.ndarray, new_gallery) -> None:
    gallery = new_gallery()
    gallery.add("ok", 1, _unit(np.random.default_rng(3), 1)[0])

    with pytest.raises(IndexStateError, match="float32"):
        gallery.add("bad", 2, vector)
    with pytest.raises(IndexStateError, match="float32"):
        gallery.search(vector, 1)
    assert len(gallery) == 1


def test_k_below_one_is_refused(new_gallery) -> None:
    gallery = new_gallery()
    with pytest.raises(IndexStateError, match="k must be"):
        gallery.search(np.zeros(DIM, dtype=np.float32), 0)


@pytest.mark.parametrize("seed", range(5))
def test_lookalike_pairs_match_a_loop_over_each_templates_nearest(seed: int, new_gallery) -> None:
    """A pair is recorded when one template is among the other's LOOKALIKE_TEMPLATES + 1 nearest."""
    rng = np.random.default_rng(seed)
    gallery = new_gallery(dim=8, lookalike_min_cos=0.3)
    vectors = _unit(rng, 40, dim=8)  # 8-d: many pairs score high together
    owners = [int(rng.integers(1, 12)) for _ in vectors]  # several templates per person, in no order
    gallery.apply(template_keys=[f"t{i}" for i in range(40)], person_ids=owners, vectors=vectors)

    expected: dict[tuple[int, int], float] = {}
    for row, owner in enumerate(owners):
        scores = [float(np.dot(vectors[row].astype(np.float64), v.astype(np.float64))) for v in vectors]
        for other in sorted(range(40), key=lambda column: -scores[column])[: LOOKALIKE_TEMPLATES + 1]:
            if owners[other] != owner and scores[other] >= 0.3:
                pair = (min(owner, owners[other]), max(owner, owners[other]))
                expected[pair] = max(expected.get(pair, -1.0), scores[other])
    for min_score in (0.3, 0.8):
        found = gallery.confusable_pairs(min_score)
        wanted = {pair: score for pair, score in expected.items() if score >= min_score}
        assert found.keys() == wanted.keys()
        assert all(found[pair] == pytest.approx(score, abs=1e-5) for pair, score in wanted.items())
        view = gallery.lookalikes(min_score)
        assert all(pair in view and pair[::-1] in view for pair in wanted)
    removed = owners[0]
    gallery.remove_person(removed)
    assert not [pair for pair in gallery.confusable_pairs(0.3) if removed in pair]
    assert new_gallery(dim=8).confusable_pairs(0.3) == {}


def test_nearest_templates_are_exact_and_best_first(new_gallery) -> None:
    rng = np.random.default_rng(11)
    gallery = new_gallery()
    vectors = _unit(rng, 30)
    gallery.apply(template_keys=[f"t{i}" for i in range(30)], person_ids=list(range(30)), vectors=vectors)
    queries = _unit(rng, 4)
    scores, persons = gallery.index.nearest_templates(queries, 5)
    expected = queries.astype(np.float64) @ vectors.astype(np.float64).T
    for row in range(4):
        best = np.argsort(-expected[row])[:5]
        assert persons[row].tolist() == best.tolist()
        assert scores[row] == pytest.approx(expected[row, best], abs=1e-5)


@pytest.mark.parametrize(
    "name", [name for name in BUILDS if name.startswith("factory-") and "below" not in name]
)
def test_factory_builds_search_through_their_trained_index(name: str) -> None:
    """The suite above really exercises the approximate path: the index is trained past its threshold."""
    index = build_index(BUILDS[name], model_id="m", dim=DIM)
    vectors = _unit(np.random.default_rng(5), 30)
    index.add_batch([f"t{i}" for i in range(7)], list(range(7)), vectors[:7])
    assert not index.is_approximate  # type: ignore[attr-defined]
    index.add_batch([f"t{i}" for i in range(7, 30)], list(range(7, 30)), vectors[7:])
    assert index.is_approximate  # type: ignore[attr-defined]
    assert index.search(vectors[20], 1)[0].person_id == 20


def test_a_factory_index_is_retrained_once_the_gallery_outgrows_its_training_set() -> None:
    """A full load adds in batches: the first training sees a few; a 4x larger gallery trains again."""
    index = build_index(BUILDS["factory-ivf"], model_id="m", dim=DIM)
    vectors = _unit(np.random.default_rng(6), 60)
    index.add_batch([f"t{i}" for i in range(10)], list(range(10)), vectors[:10])
    assert index.trained_templates == 10  # type: ignore[attr-defined]
    index.add_batch([f"t{i}" for i in range(10, 39)], list(range(10, 39)), vectors[10:39])
    assert index.trained_templates == 10  # type: ignore[attr-defined]
    index.add_batch([f"t{i}" for i in range(39, 60)], list(range(39, 60)), vectors[39:])
    assert index.trained_templates == 60  # type: ignore[attr-defined]
    assert [index.search(vectors[row], 1)[0].person_id for row in (0, 25, 59)] == [0, 25, 59]


@pytest.mark.parametrize("seed", range(3))
def test_stored_neighbour_records_give_the_pairs_a_search_finds(seed: int, new_gallery) -> None:
    """Records taken before each add, then loaded in one apply, equal the pairs of adding one by one."""
    rng = np.random.default_rng(seed)
    vectors = _unit(rng, 30, dim=8)
    owners = [int(rng.integers(1, 10)) for _ in vectors]
    searched, recorder = new_gallery(dim=8, lookalike_min_cos=0.3), new_gallery(dim=8, lookalike_min_cos=0.3)
    records = []
    for row, owner in enumerate(owners):
        searched.add(f"t{row}", owner, vectors[row])
        records += recorder.neighbour_records([owner], vectors[row : row + 1])
        recorder.apply(template_keys=[f"t{row}"], person_ids=[owner], vectors=vectors[row : row + 1])

    loaded = new_gallery(dim=8, lookalike_min_cos=0.3)
    keys = [f"t{row}" for row in range(30)]
    loaded.apply(template_keys=keys, person_ids=owners, vectors=vectors, neighbours=records)

    def loaded_with(chosen: list[bytes | None]) -> dict[tuple[int, int], float]:
        gallery = new_gallery(dim=8, lookalike_min_cos=0.3)
        gallery.apply(template_keys=keys, person_ids=owners, vectors=vectors, neighbours=chosen)
        return gallery.confusable_pairs(0.3)

    partly = loaded_with([record if row % 2 else None for row, record in enumerate(records)])
    stored_part = loaded_with([record if row % 2 else b"" for row, record in enumerate(records)])
    searched_part = loaded_with([b"" if row % 2 else None for row in range(30)])

    expected = searched.confusable_pairs(0.3)
    assert expected, "8-d unit vectors: some pairs score above 0.3"
    assert loaded.confusable_pairs(0.3) == pytest.approx(expected, abs=1e-6)
    assert partly == {  # templates without a record are searched, the others' records are read
        pair: max(stored_part.get(pair, -1.0), searched_part.get(pair, -1.0))
        for pair in stored_part.keys() | searched_part.keys()
    }
    removed = owners[0]
    loaded.remove_person(removed)
    searched.remove_person(removed)
    assert loaded.confusable_pairs(0.3) == pytest.approx(searched.confusable_pairs(0.3), abs=1e-6)
    assert all(((a, b) in loaded.lookalikes(0.3)) == (removed not in (a, b)) for a, b in expected)


def test_malformed_neighbour_records_are_refused(new_gallery) -> None:
    gallery = new_gallery()
    vector = _unit(np.random.default_rng(3), 1)
    with pytest.raises(IndexStateError, match="look-alike"):
        gallery.apply(template_keys=["t"], person_ids=[1], vectors=vector, neighbours=[b"\x00" * 5])
    with pytest.raises(IndexStateError, match="records"):
        gallery.apply(template_keys=["u"], person_ids=[1], vectors=vector, neighbours=[])
