"""Exact cosine search: FAISS IndexFlatIP inside IndexIDMap2, removal by id."""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np
import numpy.typing as npt

from recognition.index.book import Hits, TemplateBook, as_query, as_rows, search_persons
from recognition.types import Match


class FaissFlatGallery:
    """Every template scored for every query: exact, and linear in the gallery size."""

    def __init__(self, *, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._book = TemplateBook()

    def __len__(self) -> int:
        return len(self._book)

    def add_batch(
        self, template_keys: Sequence[str], person_ids: Sequence[int], vectors: npt.NDArray[np.float32]
    ) -> None:
        rows = as_rows(vectors, self.dim)
        self._index.add_with_ids(rows, self._book.register(template_keys, person_ids, count=len(rows)))

    def remove_person(self, person_id: int) -> int:
        rows = self._book.remove_person(person_id)
        if len(rows):
            # faiss's SWIG wrapper converts an int64 array to an IDSelectorBatch; its stubs do not say so.
            self._index.remove_ids(rows)  # type: ignore[arg-type]
        return len(rows)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        query = as_query(vector, self.dim)

        def nearest(depth: int) -> Hits:
            scores, rows = self._index.search(query, depth)
            return scores[0], self._book.persons(rows[0])

        return search_persons(nearest, size=len(self), k=k)

    def nearest_templates(self, vectors: npt.NDArray[np.float32], k: int) -> Hits:
        scores, rows = self._index.search(as_rows(vectors, self.dim), max(1, min(k, len(self))))
        return scores, self._book.persons(rows)
