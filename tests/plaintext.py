"""Search bytes (a database file, a dump, log output) for known template values in any common form."""

from __future__ import annotations

import numpy as np


def _needles(vector: np.ndarray) -> dict[str, bytes]:
    """Byte and text forms a careless implementation would write: raw floats, hex, decimal text."""
    float32 = vector.astype("<f4").tobytes()
    strongest = np.argsort(-np.abs(vector))[:4]
    needles = {
        "float32": float32,
        "float32-first-16-bytes": float32[:16],
        "float64": vector.astype("<f8").tobytes()[:32],
        "float32-hex": float32[:16].hex().encode(),
        "float32-big-endian": vector.astype(">f4").tobytes()[:16],
        "python-list": repr([float(x) for x in vector[:3]])[1:-1].encode(),
        "numpy-text": np.array2string(vector[:3], separator=", ")[1:-1].strip().encode(),
    }
    for rank, index in enumerate(strongest):
        needles[f"decimal-{rank}"] = f"{vector[index]:.6f}".encode()
    return needles


def template_leaks(haystack: bytes, vectors: list[np.ndarray]) -> list[str]:
    """Which forms of which vectors occur in the haystack, as "vector N: form" (empty when clean)."""
    return [
        f"vector {number}: {form}"
        for number, vector in enumerate(vectors)
        for form, needle in _needles(vector).items()
        if needle in haystack
    ]
