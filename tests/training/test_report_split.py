"""The exported state is chosen on the validation identities and reported on others (data.report_identities);
the initial state (step 0) is a candidate for the exported state (optim.is_start_validated)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

import training.run  # noqa: E402
import training.trainer  # noqa: E402
from recognition import read_bundle_file  # noqa: E402
from tests.training.conftest import TINY_BACKBONE_NAME, celeba_few  # noqa: E402
from tests.training.test_finetune import scripted_trainer  # noqa: E402
from tests.training.test_train_run import tiny_config  # noqa: E402
from training import BackboneConfig, DataConfig, OptimConfig, train_and_export  # noqa: E402
from training.data import Split, split_identities  # noqa: E402
from training.preprocess import aligned_crop_set  # noqa: E402

# Which crops the trainer reads and what the run records hold for any network: a small one will do.
TINY_BACKBONE = BackboneConfig(kind="torchvision", name=TINY_BACKBONE_NAME)


def _crops(identities: int) -> dict[str, tuple[Path, ...]]:
    return {
        f"id{i:03d}": tuple(Path(f"id{i:03d}/{j}.jpg") for j in range(2 + i % 3)) for i in range(identities)
    }


def test_report_identities_are_disjoint_from_training_and_validation_and_leave_validation_as_it_was() -> None:
    crops = _crops(60)
    config = DataConfig(data_dir=Path("faces"), val_identities=7, report_identities=11)
    split = split_identities(crops, config, seed=3)
    train, val, report = set(split.train_identities), set(split.val_identities), set(split.report_identities)
    assert (len(val), len(report), len(train)) == (7, 11, 60 - 18)
    assert not (train & val or train & report or val & report)
    assert {p.parent.name for p in split.report_paths} == report
    assert {p.parent.name for p in split.train_paths + split.val_paths}.isdisjoint(report)
    assert [split.report_identities[label] for label in split.report_labels] == [
        p.parent.name for p in split.report_paths
    ]
    # The validation draw is the one made before report identities existed (same seed, same names).
    assert split.val_identities == tuple(sorted(random.Random(3).sample(sorted(crops), 7)))
    without = split_identities(crops, config.model_copy(update={"report_identities": 0}), seed=3)
    assert without.val_identities == split.val_identities and without.report_paths == ()
    assert set(without.train_identities) == train | report
    assert split.without_report() == Split(
        split.train_paths,
        split.train_labels,
        split.val_paths,
        split.val_labels,
        split.train_identities,
        split.val_identities,
    )


@pytest.mark.model
@pytest.mark.slow
def test_the_trainer_never_reads_the_report_crops_and_report_json_measures_before_and_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = celeba_few(tmp_path, identities=7)
    optim = OptimConfig(epochs=1, warmup_epochs=0.0, validate_every_steps=1, early_stop_patience_epochs=None)
    config = tiny_config(data_dir, backbone=TINY_BACKBONE, optim=optim, batch_size=8)
    config = config.model_copy(update={"data": config.data.model_copy(update={"report_identities": 2})})
    split = split_identities(aligned_crop_set(data_dir).crops, config.data, seed=config.seed)
    report_paths = set(split.report_paths)
    assert len(split.report_identities) == 2 and report_paths
    read_by_trainer: list[Path] = []
    real_load_crops = training.trainer.load_crops

    def recording_load_crops(paths: tuple[Path, ...]) -> torch.Tensor:
        read_by_trainer.extend(paths)
        return real_load_crops(paths)

    monkeypatch.setattr(training.trainer, "load_crops", recording_load_crops)
    splits_given: list[Split] = []

    class SpyTrainer(training.trainer.Trainer):
        def __init__(self, config: object, split: Split, *args: object, **kwargs: object) -> None:
            splits_given.append(split)
            super().__init__(config, split, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training.run, "Trainer", SpyTrainer)
    run_dir = tmp_path / "run"
    outcome = train_and_export(config, run_dir, recognizer=lambda: pytest.fail("aligned crops"))  # type: ignore[arg-type, return-value]
    assert outcome is not None
    assert read_by_trainer and not report_paths & set(read_by_trainer)
    (given,) = splits_given
    assert given.report_paths == () and given.val_identities == split.val_identities
    report = json.loads((run_dir / "report.json").read_text())
    assert report == outcome.report
    assert report["identities"] == list(split.report_identities)
    assert set(report["identities"]).isdisjoint(split.train_identities + split.val_identities)
    assert report["crops"] == len(split.report_paths)
    assert (report["before_step"], report["exported_step"]) == (0, outcome.result.best_step)
    for state in ("before", "exported"):
        assert len(report[state]["fold_accuracies"]) == 10
        assert 0.0 <= report[state]["accuracy"] <= 1.0
    assert report["difference"] == pytest.approx(
        report["exported"]["accuracy"] - report["before"]["accuracy"]
    )
    source = read_bundle_file(outcome.bundle_dir / "bundle.json").source
    assert "report split (2 identities held out from training and selection)" in source


@pytest.mark.model
def test_a_run_whose_training_never_beats_the_start_keeps_the_start(tmp_path: Path) -> None:
    trainer = scripted_trainer(tmp_path, {0: 0.9}, validate_every_steps=2)
    result = trainer.fit()
    assert trainer.seen[0][0] == 0 and (result.best_step, result.best_epoch) == (0, 1)
    kept = trainer.model.state_dict()
    for key, value in trainer.seen[0][1].items():
        assert torch.equal(kept[key], value), f"{key} is not the initial state"
    assert not all(torch.equal(kept[key], value) for key, value in trainer.seen[-2][1].items())
    with (tmp_path / "run" / "val.csv").open() as handle:
        assert handle.read().splitlines()[1].startswith("0,0.0,")


@pytest.mark.model
def test_without_start_validation_the_first_candidate_comes_after_a_step(tmp_path: Path) -> None:
    trainer = scripted_trainer(tmp_path, {0: 0.9}, validate_every_steps=2, is_start_validated=False)
    result = trainer.fit()
    assert trainer.seen[0][0] == 2 and result.best_step > 0


@pytest.mark.model
def test_bundle_and_checkpoints_record_the_revision_the_run_started_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    revisions = iter(["a" * 40, *["b" * 40] * 100])  # HEAD moves after the run starts
    monkeypatch.setattr(training.trainer, "git_revision", lambda directory: next(revisions))
    optim = OptimConfig(epochs=1, warmup_epochs=0.0, early_stop_patience_epochs=None)
    config = tiny_config(celeba_few(tmp_path), backbone=TINY_BACKBONE, optim=optim, batch_size=8)
    outcome = train_and_export(config, tmp_path / "run", recognizer=lambda: pytest.fail("aligned crops"))  # type: ignore[arg-type, return-value]
    assert outcome is not None
    assert read_bundle_file(outcome.bundle_dir / "bundle.json").source.startswith(
        "FaceGate trainer (git aaaaaaaaaaaa)"
    )
    for name in ("best.pt", "last.pt"):
        state = torch.load(tmp_path / "run" / name, map_location="cpu", weights_only=True)
        assert state["git_revision"] == "a" * 40
