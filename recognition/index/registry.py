"""Index kind → factory, in a plain dict (A7)."""

from __future__ import annotations

from collections.abc import Callable

from recognition.index.faiss_factory import FaissFactoryGallery
from recognition.index.faiss_flat import FaissFlatGallery
from recognition.protocols import FaceIndex
from recognition.settings import FaissFactoryIndexConfig, FlatIndexConfig, IndexConfig


def _flat(config: FlatIndexConfig, model_id: str, dim: int) -> FaceIndex:
    return FaissFlatGallery(model_id=model_id, dim=dim)


def _faiss_factory(config: FaissFactoryIndexConfig, model_id: str, dim: int) -> FaceIndex:
    return FaissFactoryGallery(config, model_id=model_id, dim=dim)


INDEXES: dict[str, Callable[..., FaceIndex]] = {"flat": _flat, "faiss_factory": _faiss_factory}


def build_index(config: IndexConfig, *, model_id: str, dim: int) -> FaceIndex:
    """An empty index of the configured kind for one model's vectors of width `dim`."""
    return INDEXES[config.kind](config, model_id, dim)
