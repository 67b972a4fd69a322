"""Exact search for small galleries, a FAISS factory index above: its candidates re-scored exactly."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import faiss
import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError
from recognition.index.book import REMOVED, Hits, TemplateBook, as_query, as_rows, search_persons
from recognition.settings import FaissFactoryIndexConfig
from recognition.types import Match

logger = logging.getLogger(__name__)

_ADD_BATCH_ROWS = 65_536
# Retrain once the gallery is this many times larger than the training set was (a full load adds in
# batches, so the first training sees only the first batches; the total cost stays ~4/3 of one build).
_RETRAIN_GROWTH = 4


class FaissFactoryGallery:
    """Decrypted vectors kept in one array (row = FAISS id); the factory index only proposes candidates.

    Below `exact_max_templates` every row is scored (no index); the index is trained once when the
    gallery reaches that size and then grows with each add. Removed rows are tombstones: their vectors
    zeroed, dropped from the index where it supports removal (IVF), their codes zeroed where it keeps them
    in one array instead (HNSW's storage; a GPU index keeps them until the next full load), skipped in
    every result, reclaimed at the next full load. Nothing is written to disk.
    """

    def __init__(self, config: FaissFactoryIndexConfig, *, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim
        self._config = config
        self._book = TemplateBook()
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._ann: faiss.Index | None = None
        self._is_removable = False
        self._trained_on = 0

    def __len__(self) -> int:
        return len(self._book)

    @property
    def is_approximate(self) -> bool:
        """Whether candidates come from the factory index (the gallery has reached its threshold)."""
        return self._ann is not None

    @property
    def trained_templates(self) -> int:
        """How many templates the factory index was last trained with (0: not trained)."""
        return self._trained_on

    def add_batch(
        self, template_keys: Sequence[str], person_ids: Sequence[int], vectors: npt.NDArray[np.float32]
    ) -> None:
        rows = as_rows(vectors, self.dim)
        ids = self._book.register(template_keys, person_ids, count=len(rows))
        self._store(ids, rows)
        if self._ann is not None and len(self) < _RETRAIN_GROWTH * self._trained_on:
            self._ann.add_with_ids(rows, ids)
        elif len(self) >= max(1, self._config.exact_max_templates):
            self._build()  # first time, or the gallery outgrew what the index was trained on

    def remove_person(self, person_id: int) -> int:
        rows = self._book.remove_person(person_id)
        self._vectors[rows] = 0.0  # an erased person's decrypted vectors leave memory now, not at a reload
        if len(rows) and self._ann is not None:
            if self._is_removable:
                self._ann.remove_ids(rows)  # type: ignore[arg-type]  # SWIG converts int64 ids to a selector
            elif not _overwrite_codes(self._ann, rows):
                factory = self._config.factory
                logger.warning("the %s index keeps removed templates' codes until a full load", factory)
        return len(rows)

    def search(self, vector: npt.NDArray[np.float32], k: int) -> list[Match]:
        query = as_query(vector, self.dim)

        def nearest(depth: int) -> Hits:
            scores, persons = self.nearest_templates(query, depth)
            return scores[0], persons[0]

        return search_persons(nearest, size=len(self), k=k)

    def nearest_templates(self, vectors: npt.NDArray[np.float32], k: int) -> Hits:
        queries = as_rows(vectors, self.dim)
        depth = max(1, min(k, self._book.rows))
        if self._ann is None or depth >= self._book.rows:
            candidates = self._exact_candidates(queries, depth)
        else:
            _, candidates = self._ann.search(queries, max(depth, self._config.rescore_templates))
        return self._rescored(queries, candidates, depth)

    def _exact_candidates(self, queries: npt.NDArray[np.float32], depth: int) -> npt.NDArray[np.int64]:
        # Tombstones are scored too, so fetch deeper by their number to keep `depth` live rows.
        fetch = min(self._book.rows, depth + self._book.rows - len(self))
        _, rows = faiss.knn(
            queries, self._vectors[: self._book.rows], fetch, metric=faiss.METRIC_INNER_PRODUCT
        )
        return rows

    def _rescored(
        self, queries: npt.NDArray[np.float32], candidates: npt.NDArray[np.int64], depth: int
    ) -> Hits:
        """Exact cosine of each candidate row, live ones first and best first, cut to `depth`."""
        persons = self._book.persons(candidates)
        scores = np.einsum("qd,qkd->qk", queries, self._vectors[np.maximum(candidates, 0)])
        scores = np.where(persons == REMOVED, -np.inf, scores).astype(np.float32)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :depth]
        return np.take_along_axis(scores, order, axis=1), np.take_along_axis(persons, order, axis=1)

    def _store(self, ids: npt.NDArray[np.int64], rows: npt.NDArray[np.float32]) -> None:
        end = int(ids[-1]) + 1 if len(ids) else 0
        if end > self._vectors.shape[0]:
            # Capacity in powers of two: a full load adds everything at once, and an exact fit would
            # make the next enrollment copy the whole array under the gallery's lock (a 1 s stall at 1M).
            capacity = max(1 << (end - 1).bit_length(), 2 * self._vectors.shape[0], 1024)
            grown = np.empty((capacity, self.dim), dtype=np.float32)
            grown[: self._vectors.shape[0]] = self._vectors
            self._vectors = grown
        self._vectors[ids] = rows

    def _build(self) -> None:
        """Train the factory index on a sample of the live rows and add them all, in batches."""
        live = np.flatnonzero(self._book.persons(np.arange(self._book.rows, dtype=np.int64)) != REMOVED)
        try:
            index = faiss.index_factory(self.dim, self._config.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexStateError(f"FAISS cannot build {self._config.factory!r}: {exc}") from exc
        stride = max(1, len(live) // self._config.max_training_templates)
        logger.info("training %s on %d of %d templates", self._config.factory, len(live[::stride]), len(live))
        try:
            index.train(self._vectors[live[::stride]])
        except RuntimeError as exc:  # e.g. fewer templates than IVF lists (exact_max_templates too low)
            raise IndexStateError(f"FAISS cannot train {self._config.factory!r}: {exc}") from exc
        self._trained_on = len(live)
        if self._config.search_params:
            try:
                # The stubs say int; FAISS takes the 'name=value,...' string documented in the config.
                faiss.ParameterSpace().set_index_parameters(index, self._config.search_params)  # type: ignore[arg-type]
            except RuntimeError as exc:
                raise IndexStateError(
                    f"{self._config.factory!r} does not take {self._config.search_params!r}: {exc}"
                ) from exc
        self._is_removable = faiss.try_extract_index_ivf(index) is not None
        if not self._is_removable:
            index = faiss.IndexIDMap2(index)
        for start in range(0, len(live), _ADD_BATCH_ROWS):
            batch = live[start : start + _ADD_BATCH_ROWS]
            index.add_with_ids(self._vectors[batch], batch)
        self._ann = _on_gpu(index) if self._config.allow_gpu else index
        self._is_removable = self._is_removable and self._ann is index


def _overwrite_codes(index: faiss.Index, rows: npt.NDArray[np.int64]) -> bool:
    """Zero the stored codes of `rows` in an id map over an index that cannot remove ids but keeps every
    code in one array (HNSW's flat, SQ or PQ storage): an erased person's vectors leave memory now. The
    graph keeps its links; a zeroed node scores as an unrelated face, and tombstones never reach a result.
    False when the codes are kept elsewhere (a GPU index).
    """
    mapped = faiss.downcast_index(index)
    if not isinstance(mapped, faiss.IndexIDMap2):
        return False
    inner = faiss.downcast_index(mapped.index)
    storage = faiss.downcast_index(inner.storage) if hasattr(inner, "storage") else inner
    if not isinstance(storage, faiss.IndexFlatCodes):
        return False
    positions = np.flatnonzero(np.isin(faiss.vector_to_array(mapped.id_map), rows))
    size = storage.ntotal * storage.code_size
    codes = faiss.rev_swig_ptr(storage.codes.data(), size).reshape(storage.ntotal, storage.code_size)
    codes[positions] = 0
    return True


def _on_gpu(index: faiss.Index) -> faiss.Index:
    """The index on every GPU when faiss-gpu finds one (its removal then falls back to tombstones).

    FAISS has no GPU version of some kinds, the 4-bit fast-scan codes (`…x4fs`, the default) among
    them; its cloner raises for those (faiss#3336), and they stay on the CPU.
    """
    if faiss.get_num_gpus() == 0:
        return index
    try:
        moved = faiss.index_cpu_to_all_gpus(index)
    except RuntimeError as exc:
        logger.warning("FAISS has no GPU version of this index, searching on the CPU: %s", exc)
        return index
    logger.info("searching on %d GPU(s)", faiss.get_num_gpus())
    return moved
