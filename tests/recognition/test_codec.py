"""The byte form of embeddings that storage encrypts: little-endian float32."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from recognition import IndexStateError, vector_from_bytes, vector_to_bytes


@pytest.mark.parametrize("dim", [1, 3, 128, 512])
def test_round_trip_is_exact(dim: int) -> None:
    vector = np.random.default_rng(dim).normal(size=dim).astype(np.float32)

    data = vector_to_bytes(vector)
    back = vector_from_bytes(data, dim=dim)

    assert len(data) == 4 * dim
    assert back.dtype == np.float32 and back.shape == (dim,)
    np.testing.assert_array_equal(back, vector)
    back[0] = 42.0  # the result is a writable copy, not a view of the bytes


def test_byte_layout_is_little_endian_float32() -> None:
    vector = np.array([1.0, -2.5, 0.1], dtype=np.float32)

    assert vector_to_bytes(vector) == struct.pack("<3f", 1.0, -2.5, 0.1)
    assert vector_to_bytes(vector.astype(">f4")) == struct.pack("<3f", 1.0, -2.5, 0.1)
    assert vector_to_bytes(vector.astype(np.float64)) == struct.pack("<3f", 1.0, -2.5, 0.1)


@pytest.mark.parametrize("length", [0, 1, 4 * 127, 4 * 128 + 1, 4 * 129, 8 * 128])
def test_wrong_length_raises(length: int) -> None:
    with pytest.raises(IndexStateError, match=f"{length} bytes, expected 512"):
        vector_from_bytes(bytes(length), dim=128)
