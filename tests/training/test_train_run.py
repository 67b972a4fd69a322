"""A tiny real run: real CelebA crops, real MobileFaceNet, real ONNX export loaded by the product by name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from recognition import (  # noqa: E402
    BundleEmbedderConfig,
    RecognitionSettings,
    build_recognizer,
    read_bundle_file,
)
from tests.training.conftest import celeba_few  # noqa: E402
from training import (  # noqa: E402
    ArcFaceConfig,
    AugmentConfig,
    CheckpointError,
    DataConfig,
    OptimConfig,
    TrainConfig,
    TripletConfig,
    build_backbone,
    load_initial_weights,
    load_torchscript,
    normalise,
    train_and_export,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]

NO_AUGMENT = AugmentConfig(flip_probability=0.0, colour_jitter=0.0, crop_min_scale=1.0, blur_probability=0.0)


def tiny_config(data_dir: Path, **changes: object) -> TrainConfig:
    """3 training and 2 validation identities, batches of 3 identities × 4 crops, no augmentation."""
    base = TrainConfig(
        data=DataConfig(data_dir=data_dir, is_aligned=True, val_identities=2),
        augment=NO_AUGMENT,
        loss=ArcFaceConfig(scale=16.0),
        optim=OptimConfig(epochs=3, warmup_epochs=0.0, learning_rate=2e-3, early_stop_patience_epochs=None),
        batch_size=12,
        images_per_identity=4,
        threads=2,
        bundle_name="tiny-test",
    )
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, Path, object]:
    """One tiny ArcFace run shared by the tests below (training is the slow part)."""
    data_dir = celeba_few(tmp_path_factory.mktemp("data"))
    config = tiny_config(data_dir)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    return config, run_dir, train_and_export(config, run_dir, recognizer=_no_detection)


def _no_detection() -> object:
    raise AssertionError("aligned crops need no detector")


def test_loss_falls_and_every_epoch_is_recorded(tiny_run: tuple[TrainConfig, Path, object]) -> None:
    config, run_dir, outcome = tiny_run
    epochs = outcome.result.epochs  # type: ignore[attr-defined]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert all(e.images_per_s > 0 for e in epochs)
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,train_loss,images_per_s") and len(lines) == 4
    assert lines[0].endswith("active_fraction,positive_cos,negative_cos,cpu_s")
    steps = (run_dir / "steps.csv").read_text().splitlines()
    assert steps[0] == "step,epoch,loss,learning_rate,active_fraction,positive_cos,negative_cos,wall_s,cpu_s"
    step_rows = [line.split(",") for line in steps[1:]]
    assert [int(row[0]) for row in step_rows] == list(range(1, len(step_rows) + 1))
    assert {int(row[1]) for row in step_rows} == {1, 2, 3}
    for name in ("config.json", "seeds.json", "last.pt", "best.pt"):
        assert (run_dir / name).is_file()


def test_exported_bundle_loads_by_name_and_embeds_like_the_trained_network(
    tiny_run: tuple[TrainConfig, Path, object],
) -> None:
    config, run_dir, outcome = tiny_run
    bundle_dir = outcome.bundle_dir  # type: ignore[attr-defined]
    bundle = read_bundle_file(bundle_dir / "bundle.json")
    assert bundle.runtime == "onnx" and bundle.embedding_dim == 128
    assert bundle.calibration is not None and bundle.calibration.genuine_pairs > 0
    assert tuple(bundle.preprocessing.mean) == config.mean
    settings = RecognitionSettings(
        embedder=BundleEmbedderConfig(name="tiny-test"),
        bundle_dirs=[run_dir / "bundles"],
        allow_model_download=False,
    )
    recognizer = build_recognizer(settings, cache_dir=run_dir / "model-cache")
    crop = cv2.imread(str(sorted(config.data.data_dir.glob("*/*.jpg"))[0]))
    served = recognizer.embed_aligned(crop).vector
    scripted = load_torchscript(bundle_dir / "model.ts")
    rgb = torch.from_numpy(np.ascontiguousarray(crop[:, :, ::-1])).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            scripted(normalise(rgb, mean=config.mean, std=config.std)), dim=1
        )
    np.testing.assert_allclose(served, expected[0].numpy(), atol=1e-4)
    assert recognizer.model_id == bundle.model_id


def test_resume_restores_the_finished_run_and_refuses_another_config(
    tiny_run: tuple[TrainConfig, Path, object],
) -> None:
    from training.data import split_identities
    from training.preprocess import aligned_crop_set
    from training.trainer import Trainer

    config, run_dir, outcome = tiny_run
    split = split_identities(aligned_crop_set(config.data.data_dir).crops, config.data, seed=config.seed)
    trainer = Trainer(config, split, run_dir)
    trainer.resume(run_dir / "last.pt")
    assert (trainer.epoch, trainer.step) == (3, 3 * trainer.steps_per_epoch)
    # repr, not ==: a margin head's active-triplet fraction is NaN, and NaN != NaN.
    assert repr(trainer.history) == repr(list(outcome.result.epochs))  # type: ignore[attr-defined]
    other = Trainer(config.model_copy(update={"seed": 1}), split, run_dir)
    with pytest.raises(CheckpointError, match="different configuration"):
        other.resume(run_dir / "last.pt")


def test_fine_tuning_starts_from_the_exported_bundle_or_the_foamliu_weights(
    tiny_run: tuple[TrainConfig, Path, object], foamliu_state_dict: Path
) -> None:
    config, _, outcome = tiny_run
    from_bundle = build_backbone(config.backbone)
    load_initial_weights(from_bundle, outcome.bundle_dir)  # type: ignore[attr-defined]
    scripted = load_torchscript(outcome.bundle_dir / "model.ts")  # type: ignore[attr-defined]
    for key, value in scripted.state_dict().items():
        assert torch.equal(from_bundle.state_dict()[key], value)
    pretrained = build_backbone(config.backbone)
    load_initial_weights(pretrained, foamliu_state_dict)
    triplet = tiny_config(config.data.data_dir, loss=TripletConfig(mining="batch_hard"))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_initial_weights(
            build_backbone(triplet.backbone.model_copy(update={"embedding_dim": 64})), foamliu_state_dict
        )


def test_the_wall_budget_cuts_an_epoch_short_and_still_validates_and_checkpoints(
    tiny_run: tuple[TrainConfig, Path, object], tmp_path: Path
) -> None:
    from training.data import split_identities
    from training.preprocess import aligned_crop_set
    from training.trainer import Trainer

    config, _, _ = tiny_run
    budget = config.optim.model_copy(update={"max_wall_minutes": 1e-6, "epochs": 5})
    short = config.model_copy(update={"optim": budget})
    split = split_identities(aligned_crop_set(short.data.data_dir).crops, short.data, seed=short.seed)
    trainer = Trainer(short, split, tmp_path / "short")
    result = trainer.fit()
    assert result.stopped_because.startswith("wall-time budget")
    assert [e.epoch for e in result.epochs] == [1] and trainer.step == 1
    assert (tmp_path / "short" / "best.pt").is_file()


def test_the_cpu_budget_stops_mid_epoch_and_validation_is_logged_every_n_steps(tmp_path: Path) -> None:
    import csv

    from training.data import split_identities
    from training.preprocess import aligned_crop_set
    from training.trainer import Trainer

    optim = OptimConfig(
        epochs=5,
        warmup_epochs=0.0,
        max_cpu_minutes=2.0,
        validate_every_steps=1,
        early_stop_patience_epochs=None,
    )
    config = tiny_config(celeba_few(tmp_path), optim=optim, batch_size=8)
    split = split_identities(aligned_crop_set(config.data.data_dir).crops, config.data, seed=config.seed)
    # Each step costs one CPU minute on this clock, so the 2-minute budget ends after step 2.
    trainer = Trainer(config, split, tmp_path / "run", cpu_clock=lambda: 60.0 * trainer.step)
    assert trainer.steps_per_epoch > 2
    result = trainer.fit()
    assert result.stopped_because == "CPU-time budget of 2 minutes used (epoch 1)"
    assert trainer.step == 2 and [e.epoch for e in result.epochs] == [1]
    assert result.epochs[0].cpu_s == 120.0
    with (tmp_path / "run" / "val.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["step"]), float(r["cpu_s"])) for r in rows] == [(0, 0.0), (1, 60.0), (2, 120.0)]
    assert float(rows[-1]["val_accuracy"]) == result.epochs[0].val_accuracy


def test_a_triplet_curriculum_run_logs_its_active_triplets_every_step(tmp_path: Path) -> None:
    import csv

    from training.data import split_identities
    from training.preprocess import aligned_crop_set
    from training.trainer import Trainer

    loss = TripletConfig(
        mining="batch_hard", is_soft_margin=True, warmup_mining="none", warmup_mining_epochs=1.0
    )
    config = tiny_config(celeba_few(tmp_path), loss=loss, optim=OptimConfig(epochs=2, warmup_epochs=0.0))
    split = split_identities(aligned_crop_set(config.data.data_dir).crops, config.data, seed=config.seed)
    Trainer(config, split, tmp_path / "run").fit()
    with (tmp_path / "run" / "steps.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * (len(split.train_labels) // config.batch_size)
    for row in rows:
        assert 0.0 <= float(row["active_fraction"]) <= 1.0
        assert -1.0 <= float(row["negative_cos"]) <= float(row["positive_cos"]) + 1.0 <= 2.0


def test_fine_tuning_trains_only_the_head_while_the_body_is_frozen_then_the_whole_network(
    tmp_path: Path,
) -> None:
    from training.data import split_identities
    from training.metrics_log import MetricsLog
    from training.preprocess import aligned_crop_set
    from training.trainer import Trainer

    optim = OptimConfig(epochs=2, warmup_epochs=0.0, learning_rate=2e-3, freeze_body_epochs=1.0)
    config = tiny_config(celeba_few(tmp_path), optim=optim)
    split = split_identities(aligned_crop_set(config.data.data_dir).crops, config.data, seed=config.seed)
    trainer = Trainer(config, split, tmp_path / "run")
    body = {key: value.clone() for key, value in trainer.model.state_dict().items()}
    head = trainer.objective.loss.W.detach().clone()
    no_log = MetricsLog(tmp_path, is_enabled=False)
    trainer._train_epoch(no_log, no_log)
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, body[key]), f"{key} moved while the body was frozen"
    assert not torch.equal(trainer.objective.loss.W.detach(), head)
    assert not trainer.is_body_frozen()
    trainer._train_epoch(no_log, no_log)
    moved = [key for key, value in trainer.model.state_dict().items() if not torch.equal(value, body[key])]
    assert len(moved) > len(body) // 2
    with pytest.raises(ValueError, match="needs a margin head"):
        TrainConfig.model_validate({**config.model_dump(), "loss": {"kind": "triplet"}})
