"""The factory gallery's vector array leaves room after a full load, so one more template copies nothing."""

from __future__ import annotations

import numpy as np

from recognition import FaissFactoryIndexConfig, build_index


def test_adding_one_template_after_a_full_load_reuses_the_vector_array() -> None:
    """Regression: a load of every template at once sized the array exactly; the next add copied it all."""
    index = build_index(FaissFactoryIndexConfig(exact_max_templates=100_000), model_id="m", dim=8)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.add_batch([f"t{n}" for n in range(3000)], list(range(3000)), vectors)
    before = index._vectors  # type: ignore[attr-defined]

    index.add_batch(["new"], [5000], vectors[:1])

    assert index._vectors is before  # type: ignore[attr-defined]
    assert index.search(vectors[0], 1)[0].person_id in (0, 5000)
