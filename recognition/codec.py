"""Byte form of an embedding vector, as encrypted by storage (little-endian float32)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from recognition.errors import IndexStateError

_DTYPE = np.dtype("<f4")


def vector_to_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.ascontiguousarray(vector, dtype=_DTYPE).tobytes()


def vector_from_bytes(data: bytes, *, dim: int) -> npt.NDArray[np.float32]:
    """Raises IndexStateError when the byte length does not fit `dim` float32 values."""
    if len(data) != dim * _DTYPE.itemsize:
        raise IndexStateError(f"stored template has {len(data)} bytes, expected {dim * _DTYPE.itemsize}")
    return np.frombuffer(data, dtype=_DTYPE).astype(np.float32)


def vectors_from_bytes(data: Sequence[bytes], *, dim: int) -> npt.NDArray[np.float32]:
    """(n, dim) rows from n stored vectors; raises IndexStateError when one does not fit `dim` values."""
    width = dim * _DTYPE.itemsize
    wrong = next((len(one) for one in data if len(one) != width), None)
    if wrong is not None:
        raise IndexStateError(f"stored template has {wrong} bytes, expected {width}")
    return np.frombuffer(b"".join(data), dtype=_DTYPE).astype(np.float32).reshape(len(data), dim)
