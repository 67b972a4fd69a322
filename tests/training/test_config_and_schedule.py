"""TrainConfig from TOML with overrides, and the warm-up + cosine schedule."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from training import TrainingError, TripletConfig, load_config  # noqa: E402
from training.schedule import warmup_cosine_factor  # noqa: E402


def test_toml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[data]\ndata_dir = "faces"\n\n[loss]\nkind = "triplet"\nmining = "semi_hard"\n')
    config = load_config(path, {"optim.epochs": 3, "data.is_aligned": True, "seed": None})
    assert config.data.data_dir == Path("faces") and config.data.is_aligned
    assert isinstance(config.loss, TripletConfig) and config.loss.mining == "semi_hard"
    assert config.optim.epochs == 3 and config.seed == 0


def test_a_typo_fails_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="optim.epoch"):
        load_config(None, {"data.data_dir": "faces", "optim.epoch": 3})


def test_unreadable_toml_is_a_training_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[data\n")
    with pytest.raises(TrainingError, match="bad.toml"):
        load_config(path, {})


def test_warmup_rises_linearly_then_cosine_decays_to_zero() -> None:
    factors = [warmup_cosine_factor(step, warmup_steps=4, total_steps=14) for step in range(14)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    for step in range(4, 14):
        progress = (step - 4) / 10
        assert factors[step] == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)))
    assert warmup_cosine_factor(20, warmup_steps=4, total_steps=14) == pytest.approx(0.0)
