"""`facegate train` end to end through typer, with a small torchvision backbone to stay fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from api.cli import app  # noqa: E402
from tests.training.conftest import celeba_few  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_train_command_writes_a_run_a_report_and_a_bundle(tmp_path: Path) -> None:
    data_dir = celeba_few(tmp_path, identities=7)
    out = tmp_path / "run"
    args = [
        "train",
        str(data_dir),
        "--out",
        str(out),
        "--aligned",
        "--loss",
        "triplet",
        "--mining",
        "semi_hard",
        "--backbone",
        "torchvision",
        "--backbone-name",
        "mobilenet_v3_small",
        "--embedding-dim",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "12",
        "--val-identities",
        "2",
        "--report-identities",
        "2",
        "--bundle-name",
        "cli-test",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "epoch 1: loss" in result.output and "bundle:" in result.output
    bundle = json.loads((out / "bundles" / "cli-test" / "bundle.json").read_text())
    assert bundle["embedding_dim"] == 32 and bundle["runtime"] == "onnx"
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["loss"]["mining"] == "semi_hard" and resolved["data"]["report_identities"] == 2
    assert len(json.loads((out / "report.json").read_text())["identities"]) == 2


def test_a_missing_data_folder_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--aligned"]
    )
    assert result.exit_code == 1
    assert "DatasetError" in result.output and "nowhere" in result.output


def test_imprinting_a_triplet_run_is_one_error_line(tmp_path: Path) -> None:
    args = ["train", str(celeba_few(tmp_path)), "--out", str(tmp_path / "run"), "--aligned"]
    result = CliRunner().invoke(app, [*args, "--loss", "triplet", "--head-init", "imprint"])
    assert result.exit_code == 1
    assert "optim.head_init needs a margin head" in result.output


def test_float16_on_the_cpu_is_one_error_line(tmp_path: Path) -> None:
    args = ["train", str(celeba_few(tmp_path)), "--out", str(tmp_path / "run"), "--aligned"]
    result = CliRunner().invoke(
        app, [*args, "--val-identities", "2", "--device", "cpu", "--mixed-precision", "float16"]
    )
    assert result.exit_code == 1
    assert "mixed_precision = 'float16' needs a CUDA device" in result.output
