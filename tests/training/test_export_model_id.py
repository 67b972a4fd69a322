"""Two trained models exported under one bundle name and version never share a template model id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("torchvision", reason="training needs the `train` extra")

from recognition import BundleSearch, load_bundle_embedder, read_bundle_file  # noqa: E402
from training import BackboneConfig, DataConfig, TrainConfig, build_backbone  # noqa: E402
from training.export import export_bundle  # noqa: E402
from training.validation import ValidationResult  # noqa: E402


def _export(tmp_path: Path, run: str, *, seed: int) -> Path:
    """What `facegate train --out runs/train` exports: the default bundle name, version 'train-e1'."""
    config = TrainConfig(
        data=DataConfig(data_dir=tmp_path / "faces"),
        backbone=BackboneConfig(embedding_dim=32),
    )
    torch.manual_seed(seed)
    scores = np.linspace(-0.2, 0.9, 200)
    validation = ValidationResult(
        accuracy=0.9, accuracy_std=0.0, tar_at_far_1e3=0.5, genuine=scores[150:], impostor=scores[:150]
    )
    return export_bundle(
        build_backbone(config.backbone),
        config=config,
        validation=validation,
        out_dir=tmp_path / run / "bundles",
        version="train-e1",
        source="test",
        command="test",
    )


def test_a_retrained_model_exported_under_the_same_name_and_version_gets_its_own_model_id(
    tmp_path: Path,
) -> None:
    # An operator trains into runs/train, enrols everyone, then trains again into runs/train (more photos)
    # and deploys the new bundle over the old one: the stored templates were made by the first weights.
    first = _export(tmp_path, "first", seed=1)
    second = _export(tmp_path, "second", seed=2)
    first_bundle = read_bundle_file(first / "bundle.json")
    second_bundle = read_bundle_file(second / "bundle.json")
    assert first_bundle.name == second_bundle.name
    assert first_bundle.weights_sha256 != second_bundle.weights_sha256
    # Templates are selected by model id only: one id for both would put the second model's probes
    # against the first model's templates (meaningless scores, a false accept or a lockout).
    assert first_bundle.model_id != second_bundle.model_id
    assert first_bundle.model_id == f"facegate-trained@train-e1-{first_bundle.weights_sha256[:8]}"
    embedders = [
        load_bundle_embedder("facegate-trained", BundleSearch(bundle_dirs=(directory.parent,)))
        for directory in (first, second)
    ]
    assert embedders[0].model_id == first_bundle.model_id
    assert embedders[1].model_id == second_bundle.model_id
