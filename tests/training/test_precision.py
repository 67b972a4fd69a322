"""Mixed precision of a training step: what each setting picks, and a real bfloat16 run on the CPU."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from recognition import BundleEmbedderConfig, RecognitionSettings, build_recognizer  # noqa: E402
from tests.training.conftest import TINY_BACKBONE_NAME, celeba_few  # noqa: E402
from tests.training.test_train_run import tiny_config  # noqa: E402
from training import (  # noqa: E402
    BackboneConfig,
    OptimConfig,
    TrainingError,
    load_torchscript,
    normalise,
    train_and_export,
)
from training.precision import resolve_precision  # noqa: E402

TWO_EPOCHS = OptimConfig(epochs=2, warmup_epochs=0.0, learning_rate=2e-3, early_stop_patience_epochs=None)
# bfloat16 is emulated (about 10x slower) on a CPU without AVX512-BF16 or AMX: the smallest network will do.
TINY_BACKBONE = BackboneConfig(kind="torchvision", name=TINY_BACKBONE_NAME)
CPU = torch.device("cpu")
CUDA = torch.device("cuda", 0)


def test_auto_keeps_float16_on_cuda_and_float32_on_the_cpu() -> None:
    on_cuda = resolve_precision("auto", CUDA)
    assert on_cuda.autocast_dtype == torch.float16 and on_cuda.is_loss_scaled
    on_cpu = resolve_precision("auto", CPU)
    assert on_cpu.autocast_dtype is None and not on_cpu.is_loss_scaled
    assert on_cpu.memory_format == torch.contiguous_format


def test_bfloat16_is_unscaled_and_channels_last_on_the_cpu_only() -> None:
    on_cpu = resolve_precision("bfloat16", CPU)
    assert on_cpu.autocast_dtype == torch.bfloat16 and not on_cpu.is_loss_scaled
    assert on_cpu.memory_format == torch.channels_last
    assert resolve_precision("bfloat16", CUDA).memory_format == torch.contiguous_format
    assert resolve_precision("off", CUDA).autocast_dtype is None


def test_float16_on_the_cpu_is_refused_with_the_alternative() -> None:
    with pytest.raises(TrainingError, match="'float16' needs a CUDA device.*use 'bfloat16'"):
        resolve_precision("float16", CPU)


def _first_losses(run_dir: Path) -> list[float]:
    with (run_dir / "steps.csv").open() as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


@pytest.mark.model
@pytest.mark.slow
def test_a_bfloat16_cpu_run_trains_in_bfloat16_and_exports_float32_weights(tmp_path: Path) -> None:
    data_dir = celeba_few(tmp_path / "data")
    runs = {}
    for precision in ("off", "bfloat16"):
        config = tiny_config(
            data_dir,
            optim=TWO_EPOCHS,
            backbone=TINY_BACKBONE,
            mixed_precision=precision,
            device="cpu",
            bundle_name=f"tiny-{precision}",
        )
        no_detection = lambda: pytest.fail("aligned crops")  # noqa: E731
        outcome = train_and_export(config, tmp_path / precision, recognizer=no_detection)  # type: ignore[arg-type]
        runs[precision] = (config, outcome)
    float32_losses = _first_losses(tmp_path / "off")
    bfloat16_losses = _first_losses(tmp_path / "bfloat16")
    # Same seed, batches and weights: the first step differs only by bfloat16's rounding.
    assert bfloat16_losses[0] != float32_losses[0]
    assert bfloat16_losses[0] == pytest.approx(float32_losses[0], rel=0.02)
    assert np.mean(bfloat16_losses[-3:]) < np.mean(bfloat16_losses[:3])

    config, outcome = runs["bfloat16"]
    bundle_dir = outcome.bundle_dir
    scripted = load_torchscript(bundle_dir / "model.ts")
    assert all(p.dtype == torch.float32 for p in scripted.parameters())
    settings = RecognitionSettings(
        embedder=BundleEmbedderConfig(name="tiny-bfloat16"),
        bundle_dirs=[tmp_path / "bfloat16" / "bundles"],
        allow_model_download=False,
    )
    recognizer = build_recognizer(settings, cache_dir=tmp_path / "model-cache")
    crop = cv2.imread(str(sorted(data_dir.glob("*/*.jpg"))[0]))
    rgb = torch.from_numpy(np.ascontiguousarray(crop[:, :, ::-1])).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            scripted(normalise(rgb, mean=config.mean, std=config.std)), dim=1
        )
    np.testing.assert_allclose(recognizer.embed_aligned(crop).vector, expected[0].numpy(), atol=1e-4)
