"""Template bookkeeping shared by the FAISS indexes: template key ↔ row id ↔ person, and row checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError
from recognition.types import Match

REMOVED = -1
"""Person id recorded for a removed row (and FAISS's id for "no result")."""


def as_rows(vectors: npt.NDArray[np.float32], dim: int) -> npt.NDArray[np.float32]:
    """`vectors` as a C-contiguous (n, dim) float32 array; raises IndexStateError otherwise."""
    if vectors.dtype != np.float32 or vectors.ndim not in (1, 2) or vectors.shape[-1] != dim:
        raise IndexStateError(f"expected float32 vectors of width {dim}, got {vectors.dtype} {vectors.shape}")
    return np.ascontiguousarray(vectors.reshape(-1, dim))


def as_query(vector: npt.NDArray[np.float32], dim: int) -> npt.NDArray[np.float32]:
    """One (dim,) float32 vector as a (1, dim) array; raises IndexStateError otherwise."""
    if vector.shape != (dim,) or vector.dtype != np.float32:
        raise IndexStateError(f"expected float32 vector of shape ({dim},), got {vector.dtype} {vector.shape}")
    return np.ascontiguousarray(vector.reshape(1, dim))


def check_k(k: int) -> None:
    if k < 1:
        raise IndexStateError(f"k must be at least 1, got {k}")


class TemplateBook:
    """Row ids are given in order (0, 1, ...) and never reused; a removed row keeps its id as a tombstone."""

    def __init__(self) -> None:
        self._person_of_row = np.empty(0, dtype=np.int64)
        self._rows = 0
        self._row_of_key: dict[str, int] = {}
        self._rows_of_person: dict[int, list[int]] = {}
        self._key_of_row: dict[int, str] = {}

    @property
    def rows(self) -> int:
        """Row ids given so far, removed ones included."""
        return self._rows

    def __len__(self) -> int:
        return len(self._row_of_key)

    def register(
        self, template_keys: Sequence[str], person_ids: Sequence[int], *, count: int
    ) -> npt.NDArray[np.int64]:
        """Row ids for `count` new templates; raises IndexStateError on a known or repeated key."""
        if not len(template_keys) == len(person_ids) == count:
            raise IndexStateError(
                f"{len(template_keys)} template keys, {len(person_ids)} person ids and {count} vectors"
            )
        if len(set(template_keys)) != len(template_keys):
            raise IndexStateError("a template key is repeated in one batch")
        known = next((key for key in template_keys if key in self._row_of_key), None)
        if known is not None:
            raise IndexStateError(f"template {known} is already in the gallery")
        first, count = self._rows, len(template_keys)
        self._grow(first + count)
        self._person_of_row[first : first + count] = np.asarray(person_ids, dtype=np.int64)
        for offset, (key, person_id) in enumerate(zip(template_keys, person_ids, strict=True)):
            self._row_of_key[key] = first + offset
            self._key_of_row[first + offset] = key
            self._rows_of_person.setdefault(int(person_id), []).append(first + offset)
        self._rows += count
        return np.arange(first, first + count, dtype=np.int64)

    def remove_person(self, person_id: int) -> npt.NDArray[np.int64]:
        """The removed person's row ids (empty when unknown); they are tombstoned."""
        rows = np.asarray(self._rows_of_person.pop(person_id, []), dtype=np.int64)
        self._person_of_row[rows] = REMOVED
        for row in rows.tolist():
            del self._row_of_key[self._key_of_row.pop(row)]
        return rows

    def persons(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Person id of each row id, REMOVED for a tombstone or FAISS's -1."""
        return np.where(rows >= 0, self._person_of_row[np.maximum(rows, 0)], REMOVED)

    def _grow(self, size: int) -> None:
        if size > self._person_of_row.shape[0]:
            grown = np.full(max(size, 2 * self._person_of_row.shape[0], 1024), REMOVED, dtype=np.int64)
            grown[: self._rows] = self._person_of_row[: self._rows]
            self._person_of_row = grown


def best_per_person(scores: npt.NDArray[np.float32], persons: npt.NDArray[np.int64], k: int) -> list[Match]:
    """Up to k persons from one query's hits sorted best first (REMOVED hits skipped)."""
    best: dict[int, float] = {}
    for score, person_id in zip(scores.tolist(), persons.tolist(), strict=True):
        if person_id != REMOVED and person_id not in best:
            best[person_id] = score
            if len(best) == k:
                break
    return [Match(person_id=person_id, score=score) for person_id, score in best.items()]


# How many templates to pull per requested person, so that the best template of each of the
# top-k persons is found even when one person owns many of the nearest templates.
TEMPLATES_PER_PERSON = 16

Hits = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]
"""One query's (exact scores, person ids) of its nearest templates, best first."""


def search_persons(nearest: Callable[[int], Hits], *, size: int, k: int) -> list[Match]:
    """Up to k persons, deepening `nearest(depth)` until k distinct persons or the whole gallery."""
    check_k(k)
    if size == 0:
        return []
    depth = min(size, k * TEMPLATES_PER_PERSON)
    while True:
        matches = best_per_person(*nearest(depth), k)
        # A person owning many near templates can fill the first `depth` hits: search deeper.
        if len(matches) >= k or depth >= size:
            return matches
        depth = min(size, depth * 4)
