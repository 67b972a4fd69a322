"""FaissFactoryIndexConfig refuses settings FAISS would reject only at the first build, or on a GPU (C2)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from recognition import FaissFactoryIndexConfig, IndexStateError, build_index


@pytest.mark.parametrize("templates", [0, 2049])
def test_rescore_depth_outside_what_faiss_selects_is_refused(templates: int) -> None:
    with pytest.raises(ValidationError, match="rescore_templates"):
        FaissFactoryIndexConfig(rescore_templates=templates)


@pytest.mark.parametrize("params", ["nprobe", "nprobe=", "nprobe=64;efSearch=32", "nprobe=64,", " nprobe=64"])
def test_malformed_search_params_are_refused(params: str) -> None:
    with pytest.raises(ValidationError, match="search_params"):
        FaissFactoryIndexConfig(search_params=params)


@pytest.mark.parametrize("params", ["", "nprobe=64", "nprobe=1024,quantizer_efSearch=64", "efSearch=128"])
def test_well_formed_search_params_are_kept(params: str) -> None:
    assert FaissFactoryIndexConfig(search_params=params).search_params == params


def test_a_search_parameter_the_index_does_not_have_is_an_index_state_error() -> None:
    """FAISS raises RuntimeError from its first build; callers see recognition's error (E2)."""
    config = FaissFactoryIndexConfig(factory="IVF2,Flat", search_params="efSearch=64", exact_max_templates=4)
    index = build_index(config, model_id="m", dim=8)
    vectors = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)

    with pytest.raises(IndexStateError, match="efSearch"):
        index.add_batch([f"t{row}" for row in range(4)], list(range(4)), vectors)


def test_too_few_templates_to_train_the_index_is_an_index_state_error() -> None:
    """The default's 512 IVF lists need 512 templates; a lower exact_max_templates fails at its build."""
    index = build_index(FaissFactoryIndexConfig(exact_max_templates=100), model_id="m", dim=32)
    vectors = np.random.default_rng(1).standard_normal((100, 32)).astype(np.float32)

    with pytest.raises(IndexStateError, match="cannot train"):
        index.add_batch([f"t{row}" for row in range(100)], list(range(100)), vectors)
