"""Fine-tuning a pretrained body: an imprinted head, frozen BatchNorm, the best validated state kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from tests.training.conftest import TINY_BACKBONE_NAME, celeba_few  # noqa: E402
from tests.training.test_train_run import tiny_config  # noqa: E402
from training import BackboneConfig, OptimConfig, embed_crops, normalise  # noqa: E402
from training.data import load_crops, split_identities  # noqa: E402
from training.imprint import class_centres  # noqa: E402
from training.metrics_log import MetricsLog  # noqa: E402
from training.preprocess import aligned_crop_set  # noqa: E402
from training.trainer import Trainer  # noqa: E402
from training.validation import ValidationResult  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def test_class_centres_are_the_normalised_means_of_unit_embeddings() -> None:
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(7, 4, generator=generator) * torch.arange(1, 8).view(7, 1)
    labels = torch.tensor([0, 2, 1, 2, 0, 2, 1])
    centres = class_centres(embeddings, labels, num_classes=3)
    for label in range(3):
        unit = [embeddings[i] / embeddings[i].norm() for i in range(7) if labels[i] == label]
        mean = sum(unit) / len(unit)
        torch.testing.assert_close(centres[label], mean / mean.norm())
    with pytest.raises(ValueError, match="no embedding"):
        class_centres(embeddings, labels, num_classes=4)


def _foamliu_trainer(data_dir: Path, run_dir: Path, weights: Path, **optim: object) -> Trainer:
    config = tiny_config(
        data_dir,
        backbone=BackboneConfig(init_weights=weights),
        optim=OptimConfig(epochs=1, warmup_epochs=0.0, learning_rate=1e-4, **optim),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    split = split_identities(aligned_crop_set(data_dir).crops, config.data, seed=config.seed)
    return Trainer(config, split, run_dir)


def _first_batch_loss(trainer: Trainer) -> float:
    """The loss the first training step computes (training mode, the loader's first batch)."""
    images, labels = next(iter(trainer._loader()))
    trainer.model.train()
    with torch.no_grad():
        loss, _ = trainer.network(
            normalise(images, mean=IMAGENET_MEAN, std=IMAGENET_STD), labels, epochs_done=0.0
        )
    return float(loss)


@pytest.mark.model
def test_an_imprinted_head_holds_each_identitys_mean_embedding_and_starts_with_a_low_loss(
    tmp_path: Path, foamliu_state_dict: Path
) -> None:
    data_dir = celeba_few(tmp_path)
    imprinted = _foamliu_trainer(data_dir, tmp_path / "imprint", foamliu_state_dict, head_init="imprint")
    random_head = _foamliu_trainer(data_dir, tmp_path / "random", foamliu_state_dict)
    split = imprinted.split
    for label, identity in enumerate(split.train_identities):
        paths = tuple(p for p, y in zip(split.train_paths, split.train_labels, strict=True) if y == label)
        assert paths and all(p.parent.name == identity for p in paths)
        unit = embed_crops(
            imprinted.model,
            load_crops(paths),
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            device=torch.device("cpu"),
        )
        mean = torch.from_numpy(unit).mean(dim=0)
        column = imprinted.objective.loss.W[:, label].detach()
        torch.testing.assert_close(column, mean / mean.norm(), atol=1e-5, rtol=1e-5)
    imprinted_loss, random_loss = _first_batch_loss(imprinted), _first_batch_loss(random_head)
    assert imprinted_loss < 0.25 * random_loss, (imprinted_loss, random_loss)


@pytest.mark.model
def test_frozen_batchnorm_keeps_the_pretrained_running_statistics_while_the_weights_learn(
    tmp_path: Path, foamliu_state_dict: Path
) -> None:
    data_dir = celeba_few(tmp_path)
    no_log = MetricsLog(tmp_path, is_enabled=False)
    moved = {}
    for is_frozen in (True, False):
        trainer = _foamliu_trainer(
            data_dir, tmp_path / str(is_frozen), foamliu_state_dict, is_batchnorm_frozen=is_frozen
        )
        before = {key: value.clone() for key, value in trainer.model.state_dict().items()}
        trainer._train_epoch(no_log, no_log)
        after = trainer.model.state_dict()
        moved[is_frozen] = {key for key, value in after.items() if not torch.equal(value, before[key])}
    statistics = {key for key in moved[False] if key.endswith(("running_mean", "running_var"))}
    assert statistics, "batch statistics never moved the running statistics: the test cannot tell"
    assert not moved[True] & statistics
    assert {key for key in moved[True] if key.endswith("weight")}


class RecordingTrainer(Trainer):
    """A real trainer whose validations report a scripted accuracy and record the weights they saw."""

    def __init__(self, *args: object, accuracy_at_step: dict[int, float], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.accuracy_at_step = accuracy_at_step
        self.seen: list[tuple[int, dict[str, torch.Tensor]]] = []

    def validate(self) -> ValidationResult:
        weights = {key: value.clone() for key, value in self.model.state_dict().items()}
        self.seen.append((self.step, weights))
        return dataclasses.replace(super().validate(), accuracy=self.accuracy_at_step.get(self.step, 0.6))


def scripted_trainer(tmp_path: Path, accuracy_at_step: dict[int, float], **optim: object) -> RecordingTrainer:
    """A RecordingTrainer on a few CelebA identities: one epoch of batches of 8, no warm-up, no early stop; a
    small torchvision network (its validations' accuracies are scripted: any network shows which it keeps)."""
    settings: dict[str, object] = {"epochs": 1, "warmup_epochs": 0.0, "early_stop_patience_epochs": None}
    config = tiny_config(
        celeba_few(tmp_path),
        backbone=BackboneConfig(kind="torchvision", name=TINY_BACKBONE_NAME),
        optim=OptimConfig(**{**settings, **optim}),  # type: ignore[arg-type]
        batch_size=8,
    )
    split = split_identities(aligned_crop_set(config.data.data_dir).crops, config.data, seed=config.seed)
    return RecordingTrainer(config, split, tmp_path / "run", accuracy_at_step=accuracy_at_step)


@pytest.mark.model
def test_the_best_mid_epoch_validation_is_the_state_the_run_keeps(tmp_path: Path) -> None:
    trainer = scripted_trainer(tmp_path, {0: 0.5, 2: 0.9}, validate_every_steps=1)
    last = trainer.steps_per_epoch
    assert last > 2
    result = trainer.fit()
    # The start, one validation after every step (the last one at the epoch's end), then the kept state.
    assert [step for step, _ in trainer.seen] == [*range(0, last + 1), last]
    assert (result.best_step, result.best_epoch) == (2, 1)
    assert result.epochs[0].val_accuracy == 0.6
    kept = trainer.model.state_dict()
    for key, value in trainer.seen[2][1].items():
        assert torch.equal(kept[key], value), f"{key} is not the step-2 state"
    assert not all(torch.equal(kept[key], value) for key, value in trainer.seen[last][1].items())


@pytest.mark.model
def test_with_best_state_from_epoch_ends_a_better_mid_epoch_validation_is_not_kept(tmp_path: Path) -> None:
    trainer = scripted_trainer(
        tmp_path, {0: 0.5, 2: 0.9}, validate_every_steps=1, best_state_from="epoch_ends"
    )
    last = trainer.steps_per_epoch
    result = trainer.fit()
    assert (result.best_step, result.best_epoch) == (last, 1)
    kept = trainer.model.state_dict()
    for key, value in trainer.seen[last][1].items():
        assert torch.equal(kept[key], value), f"{key} is not the epoch-end state"
