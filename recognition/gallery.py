"""The searchable gallery of one model: a FaceIndex, its look-alike pairs, and a lock for live changes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError
from recognition.index.book import as_query, as_rows
from recognition.lookalike import (
    LookalikeHits,
    LookalikePairs,
    PairScores,
    best_pairs,
    hit_mask,
    neighbour_hits,
    neighbours_to_bytes,
    no_hits,
    pair_scores,
    stored_hits,
)
from recognition.protocols import FaceIndex
from recognition.types import Match

_PAIR_QUERY_ROWS = 1024


def limit_search_threads(threads: int) -> None:
    """Cap FAISS's OpenMP threads for this process (0 leaves FAISS's default: one per core).

    A door searches one face at a time in a small gallery; waking a thread team per search costs
    more than the search itself on a busy machine (5-8 ms against 0.1 ms measured by bench/gate.py).
    """
    if threads > 0:
        faiss.omp_set_num_threads(threads)


@dataclass(frozen=True)
class LookalikeView:
    """The gallery's look-alike pairs at one threshold, read live: `(a, b) in view`."""

    pairs: LookalikePairs
    min_score: float

    def __contains__(self, pair: object) -> bool:
        if not isinstance(pair, tuple) or len(pair) != 2:
            return False
        score = self.pairs.score(*pair)
        return score is not None and score >= self.min_score

    def __bool__(self) -> bool:
        return bool(self.pairs)


class Gallery:
    """Searched by any thread; changed by one writer thread at a time (the gallery's loader).

    Each added template is searched for its `lookalike_templates` nearest templates through the index,
    and every other person among them scoring `lookalike_min_cos` or more is recorded as a look-alike
    pair beside the index (an all-pairs comparison does not scale to a million templates). A template
    stored with its neighbour record (`neighbour_records`, taken when it was enrolled) is not searched
    again: its record gives the same pairs.
    """

    def __init__(self, index: FaceIndex, *, lookalike_min_cos: float, lookalike_templates: int = 8) -> None:
        self.index = index
        self.pairs = LookalikePairs(min_score=lookalike_min_cos)
        self.lookalike_templates = lookalike_templates
        self.revision = 0
        """Counts the changes applied; what is derived from a gallery is keyed by (gallery, revision)."""
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self.index.model_id

    @property
    def dim(self) -> int:
        return self.index.dim

    def __len__(self) -> int:
        return len(self.index)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        """Up to k persons, best template's cosine each, best first (FaceIndex.search)."""
        with self._lock:
            return self.index.search(vector, k)

    def add(self, template_key: str, person_id: int, vector: npt.NDArray[np.float32]) -> None:
        """Add one template (see `apply`)."""
        self.apply(template_keys=[template_key], person_ids=[person_id], vectors=as_query(vector, self.dim))

    def remove_person(self, person_id: int) -> int:
        """Remove a person's templates and pairs; returns how many templates were removed."""
        with self._lock:
            removed = self.index.remove_person(person_id)
            self.pairs.remove_person(person_id)
            self.revision += 1
        return removed

    def apply(
        self,
        *,
        template_keys: Sequence[str],
        person_ids: Sequence[int],
        vectors: npt.NDArray[np.float32],
        removed_person_ids: Sequence[int] = (),
        neighbours: Sequence[bytes | None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Remove people, then add templates (rows L2-normalised) and record their look-alike pairs.

        A template's pairs come from its stored `neighbours` (`neighbour_records` when it was
        enrolled) where one is given, else from a search of this gallery once every row is added,
        in batches, reporting `progress(searched, to_search)` after each. In a new gallery's first
        change (a full load) a stored pair with someone not among its templates is left out, and in a
        later one a stored pair with someone it removes: they were removed (erased) after the record was
        taken.

        Raises:
            IndexStateError: a template key already present, vectors of the wrong shape or dtype, or
                malformed stored neighbours.
        """
        rows = as_rows(vectors, self.dim)
        stored: Sequence[bytes | None] = [None] * len(rows) if neighbours is None else neighbours
        if len(stored) != len(rows):
            raise IndexStateError(f"{len(stored)} stored neighbour records for {len(rows)} templates")
        is_new = self.revision == 0
        with self._lock:
            for person_id in removed_person_ids:
                self.index.remove_person(person_id)
                self.pairs.remove_person(person_id)
            self.index.add_batch(template_keys, person_ids, rows)
            self.revision += 1
        # Searching needs no lock here: this is the only writer, and concurrent searches only read.
        owners = np.asarray(person_ids, dtype=np.int64)
        unknown = np.asarray([record is None for record in stored], dtype=bool)
        recorded = stored_hits(owners, stored, min_score=self.pairs.min_score)
        # A record names the neighbours its template had at enrollment: one erased since is gone.
        if is_new:
            kept = np.isin(recorded[1], owners)
        else:
            kept = ~np.isin(recorded[1], np.asarray(removed_person_ids, dtype=np.int64))
        hits = [(recorded[0][kept], recorded[1][kept], recorded[2][kept])]
        hits += self._searched_hits(
            owners[unknown], rows[unknown], depth=self.lookalike_templates + 1, progress=progress
        )
        pairs = best_pairs(*(np.concatenate(column) for column in zip(*hits, strict=True)))
        if is_new:
            self.pairs.load(pairs)  # a full load: millions of pairs stay in arrays
        else:
            self.pairs.merge(pair_scores(pairs))

    def neighbour_records(
        self, person_ids: Sequence[int], vectors: npt.NDArray[np.float32], *, is_in_gallery: bool = False
    ) -> list[bytes]:
        """The look-alike neighbours of templates about to be added, to store beside them.

        Each record holds the person id and cosine of every other person's template among the
        template's `lookalike_templates` nearest in this gallery scoring `lookalike_min_cos` or more
        (no template data); `apply(neighbours=...)` then records exactly the pairs its own search would.
        With `is_in_gallery` the templates are already in this gallery (records made afterwards, for
        templates stored without one): the search goes one deeper, as `apply`'s own does, so that a
        template's own row takes no neighbour's place.

        Raises:
            IndexStateError: vectors of the wrong shape or dtype.
        """
        rows = as_rows(vectors, self.dim)
        owners = np.asarray(person_ids, dtype=np.int64)
        if len(self.index) == 0:
            return [b""] * len(rows)
        depth = self.lookalike_templates + 1 if is_in_gallery else self.lookalike_templates
        records: list[bytes] = []
        for start in range(0, len(rows), _PAIR_QUERY_ROWS):
            part = slice(start, start + _PAIR_QUERY_ROWS)
            with self._lock:  # a search by any thread, as `search`: FAISS must not change meanwhile
                scores, persons = self.index.nearest_templates(rows[part], depth)
            hits = hit_mask(owners[part], scores, persons, min_score=self.pairs.min_score)
            records += [
                neighbours_to_bytes(row_persons[keep], row_scores[keep])
                for row_scores, row_persons, keep in zip(scores, persons, hits, strict=True)
            ]
        return records

    def lookalikes(self, min_score: float) -> LookalikeView:
        """Pairs scoring at least `min_score`, read live; below `lookalike_min_cos` nothing more is known."""
        return LookalikeView(self.pairs, max(min_score, self.pairs.min_score))

    def confusable_pairs(self, min_score: float) -> PairScores:
        """Recorded pairs (lower id first) scoring `min_score` or more, with their best cosine."""
        return self.pairs.at_least(min_score)

    def _searched_hits(
        self,
        owners: npt.NDArray[np.int64],
        rows: npt.NDArray[np.float32],
        *,
        depth: int,
        progress: Callable[[int, int], None] | None,
    ) -> list[LookalikeHits]:
        found = [no_hits()]
        if progress is not None:
            progress(0, len(rows))
        for start in range(0, len(rows), _PAIR_QUERY_ROWS):
            part = slice(start, start + _PAIR_QUERY_ROWS)
            scores, persons = self.index.nearest_templates(rows[part], depth)
            found.append(neighbour_hits(owners[part], scores, persons, min_score=self.pairs.min_score))
            if progress is not None:
                progress(min(start + _PAIR_QUERY_ROWS, len(rows)), len(rows))
        return found
