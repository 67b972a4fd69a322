"""faiss_factory with faiss-gpu and a GPU present: every factory kind builds and searches (K5 `gpu`)."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from recognition import FaissFactoryIndexConfig, build_index

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(faiss.get_num_gpus() == 0, reason="needs faiss-gpu and a CUDA GPU"),
]


@pytest.mark.parametrize(
    "config",
    [
        FaissFactoryIndexConfig(exact_max_templates=1024),  # 4-bit fast-scan: FAISS keeps it on the CPU
        FaissFactoryIndexConfig(factory="IVF64,Flat", search_params="nprobe=64", exact_max_templates=1024),
    ],
    ids=["default", "ivf-flat"],
)
def test_a_factory_index_builds_and_finds_its_templates_with_a_gpu_present(
    config: FaissFactoryIndexConfig,
) -> None:
    vectors = np.random.default_rng(0).standard_normal((2048, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(config, model_id="m", dim=32)

    index.add_batch([f"t{row}" for row in range(2048)], list(range(2048)), vectors)

    assert index.is_approximate  # type: ignore[attr-defined]
    assert [index.search(vectors[row], 1)[0].person_id for row in (0, 1000, 2047)] == [0, 1000, 2047]
    assert index.remove_person(1000) == 1
    assert index.search(vectors[1000], 1)[0].person_id != 1000
