"""Gallery's thread contract on a real FAISS index: one writer thread, searches from any other."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from recognition.gallery import Gallery
from recognition.index.faiss_flat import FaissFlatGallery
from recognition.lookalike import neighbours_from_bytes

_DIM = 128
_PEOPLE = 5_000  # large enough that a search overlaps many of the writer's changes
_READS = 20


def _unit_rows(count: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    rows = rng.standard_normal((count, _DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def test_neighbour_records_are_right_while_the_writer_removes_and_adds() -> None:
    """A removal compacts IndexFlatIP's rows and IndexIDMap2's ids; a search unguarded meanwhile
    named the wrong person (FAISS: concurrent searches are safe, a search during a change is not)."""
    rng = np.random.default_rng(0)
    vectors = _unit_rows(_PEOPLE, rng)
    gallery = Gallery(FaissFlatGallery(model_id="m", dim=_DIM), lookalike_min_cos=0.5)
    keys = [f"t{person}" for person in range(_PEOPLE)]
    gallery.apply(template_keys=keys, person_ids=list(range(_PEOPLE)), vectors=vectors)
    churned = _PEOPLE // 2  # the writer removes and adds back people below this; the probes are above
    probes = np.arange(churned, _PEOPLE, 40)
    stop = threading.Event()

    def write() -> int:
        changes = 0
        while not stop.is_set():
            changes += 1
            person = int(rng.integers(churned))
            gallery.remove_person(person)
            one = vectors[person : person + 1]
            gallery.apply(template_keys=[f"t{person}-{changes}"], person_ids=[person], vectors=one)
        return changes

    wrong: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        writer = pool.submit(write)
        try:
            for _ in range(_READS):
                records = gallery.neighbour_records([-1] * len(probes), vectors[probes])
                for probe, record in zip(probes.tolist(), records, strict=True):
                    persons, _ = neighbours_from_bytes(record)
                    if probe not in persons.tolist():
                        wrong.append(f"person {probe}'s own template found as {persons.tolist()}")
        finally:
            stop.set()
    assert writer.result() > 0, "the writer changed nothing meanwhile"
    assert not wrong, f"{len(wrong)} wrong records in {_READS} reads, e.g. {wrong[:3]}"
