"""FAISS gallery: exact inner-product search over L2-normalised templates, grouped by person."""

from __future__ import annotations

import faiss
import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError
from recognition.types import Match

# How many templates to pull per requested person, so that the best template of each of the
# top-k persons is found even when one person owns many of the nearest templates.
_TEMPLATES_PER_PERSON = 16


def limit_search_threads(threads: int) -> None:
    """Cap FAISS's OpenMP threads for this process (0 leaves FAISS's default: one per core).

    A door searches one face at a time in a small gallery; waking a thread team per search costs
    more than the search itself on a busy machine (5-8 ms against 0.1 ms measured by bench/gate.py).
    """
    if threads > 0:
        faiss.omp_set_num_threads(threads)


class FaissFlatGallery:
    """IndexFlatIP inside IndexIDMap2: exact cosine search, removal by id.

    FAISS ids are internal int64 counters; template keys and person ids live beside the index.
    """

    def __init__(self, *, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._next_id = 0
        self._person_of: dict[int, int] = {}
        self._id_of_key: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, template_key: str, person_id: int, vector: npt.NDArray[np.float32]) -> None:
        if template_key in self._id_of_key:
            raise IndexStateError(f"template {template_key} is already in the gallery")
        row = self._as_row(vector)
        faiss_id = self._next_id
        self._next_id += 1
        self._index.add_with_ids(row, np.array([faiss_id], dtype=np.int64))
        self._person_of[faiss_id] = person_id
        self._id_of_key[template_key] = faiss_id

    def remove_person(self, person_id: int) -> int:
        ids = [faiss_id for faiss_id, owner in self._person_of.items() if owner == person_id]
        if not ids:
            return 0
        # faiss's SWIG wrapper converts an int64 array to an IDSelectorBatch; its stubs do not say so.
        self._index.remove_ids(np.array(ids, dtype=np.int64))  # type: ignore[arg-type]
        for faiss_id in ids:
            del self._person_of[faiss_id]
        self._id_of_key = {key: value for key, value in self._id_of_key.items() if value not in set(ids)}
        return len(ids)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        if k < 1:
            raise IndexStateError(f"k must be at least 1, got {k}")
        if len(self) == 0:
            return []
        row = self._as_row(vector)
        depth = min(len(self), k * _TEMPLATES_PER_PERSON)
        while True:
            best = self._best_per_person(row, depth)
            # A person owning many near templates can fill the first `depth` hits: search deeper.
            if len(best) >= k or depth >= len(self):
                break
            depth = min(len(self), depth * 4)
        return [Match(person_id=p, score=s) for p, s in list(best.items())[:k]]

    def confusable_pairs(self, min_score: float) -> dict[tuple[int, int], float]:
        """Every two people (lower id first) whose templates score `min_score` or more together.

        Returns:
            The best cosine between each such pair's templates.
        """
        if len(self) == 0:
            return {}
        vectors = self._index.index.reconstruct_n(0, len(self))
        row_ids = faiss.vector_to_array(self._index.id_map)
        limits, scores, hit_ids = self._index.range_search(vectors, min_score)
        best: dict[tuple[int, int], float] = {}
        for row, faiss_id in enumerate(row_ids):
            owner = self._person_of[int(faiss_id)]
            hits = slice(limits[row], limits[row + 1])
            for hit, score in zip(hit_ids[hits], scores[hits], strict=True):
                other = self._person_of[int(hit)]
                if other != owner:
                    pair = (min(owner, other), max(owner, other))
                    best[pair] = max(best.get(pair, -1.0), float(score))
        return best

    def _best_per_person(self, row: npt.NDArray[np.float32], depth: int) -> dict[int, float]:
        scores, ids = self._index.search(row, depth)
        best: dict[int, float] = {}
        for score, faiss_id in zip(scores[0], ids[0], strict=True):
            if faiss_id < 0:
                continue
            best.setdefault(self._person_of[int(faiss_id)], float(score))
        return best

    def _as_row(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if vector.shape != (self.dim,) or vector.dtype != np.float32:
            raise IndexStateError(
                f"expected float32 vector of shape ({self.dim},), got {vector.dtype} {vector.shape}"
            )
        return np.ascontiguousarray(vector.reshape(1, -1))
