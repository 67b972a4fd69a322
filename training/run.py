"""One call from a folder of identity subfolders to an exported bundle: crops → split → train → export."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recognition import Recognizer
from training.checkpoint import LAST_CHECKPOINT, short_revision
from training.config import TrainConfig
from training.data import Split, load_crops, split_identities
from training.distributed import SINGLE_PROCESS, DistContext
from training.errors import DatasetError
from training.export import export_bundle
from training.history import TrainResult
from training.preprocess import CropSet, aligned_crop_set, detect_and_align
from training.trainer import Trainer
from training.validation import ValidationResult, validate_identities

logger = logging.getLogger(__name__)

BUNDLES_DIR = "bundles"
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class TrainOutcome:
    """The finished run and where its bundle is."""

    result: TrainResult
    bundle_dir: Path
    skipped_photos: tuple[tuple[Path, str], ...]
    report: dict[str, object] | None = None
    """RUN/report.json's content (data.report_identities > 0): the report split before and exported."""


class ReportSplit:
    """The identities held out from training and from selection, measured only before training and on the
    exported state (never by the trainer, which gets the split without them)."""

    def __init__(self, split: Split, config: TrainConfig, trainer: Trainer) -> None:
        self.split = split
        self.config = config
        self.trainer = trainer
        self.images = load_crops(split.report_paths)
        self.before_step = trainer.step  # 0, or where a resumed run starts again
        self.before = self.measure()

    def measure(self) -> ValidationResult:
        """The trainer's model now, on every pair of the report crops (the same pairs and folds each time)."""
        return validate_identities(
            self.trainer.model,
            self.images,
            self.split.report_labels,
            mean=self.config.mean,
            std=self.config.std,
            device=self.trainer.device,
            seed=self.config.seed,
        )

    def write(self, run_dir: Path, *, exported_step: int) -> tuple[dict[str, object], str]:
        """Measure the exported state (the trainer's model after fit), write RUN/report.json; returns its
        content and a line for the bundle's source."""
        exported = self.measure()
        report: dict[str, object] = {
            "identities": list(self.split.report_identities),
            "crops": len(self.split.report_paths),
            "genuine_pairs": len(exported.genuine),
            "impostor_pairs": len(exported.impostor),
            "before_step": self.before_step,
            "exported_step": exported_step,
            "before": _scores(self.before),
            "exported": _scores(exported),
            "difference": exported.accuracy - self.before.accuracy,
            "fold_differences": [
                a - b for a, b in zip(exported.fold_accuracies, self.before.fold_accuracies, strict=True)
            ],
        }
        (run_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
        note = (
            f"; report split ({len(self.split.report_identities)} identities held out from training and "
            f"selection): accuracy {self.before.accuracy:.4f} at step {self.before_step}, "
            f"{exported.accuracy:.4f} exported"
        )
        return report, note


def _scores(result: ValidationResult) -> dict[str, object]:
    return {
        "accuracy": result.accuracy,
        "accuracy_std": result.accuracy_std,
        "fold_accuracies": list(result.fold_accuracies),
        "tar_at_far_1e3": result.tar_at_far_1e3,
    }


def crops_for(config: TrainConfig, run_dir: Path, recognizer: Callable[[], Recognizer]) -> CropSet:
    """The aligned crops: the folder itself when it is aligned, else the detect-and-align cache."""
    data = config.data
    if data.is_aligned:
        return aligned_crop_set(data.data_dir)
    cache_dir = data.cache_dir or run_dir.parent / f"crops-{data.data_dir.name}"
    return detect_and_align(recognizer(), data.data_dir, cache_dir)


def train_and_export(
    config: TrainConfig,
    run_dir: Path,
    *,
    recognizer: Callable[[], Recognizer],
    is_resume: bool = False,
    command: str = "facegate train",
    dist: DistContext = SINGLE_PROCESS,
) -> TrainOutcome | None:
    """Train `config` into `run_dir` and export its best validated state to `run_dir/bundles/NAME/`.

    Args:
        recognizer: builds the product's pipeline, called only when photos need detection.
        is_resume: continue from `run_dir/last.pt` (must exist, same configuration); every rank of a
            distributed run resumes from the same file.
        command: recorded in bundle.json as the command that reproduces the calibration.
        dist: this process's place in a torchrun group; only rank 0 exports and gets an outcome
            (the others get None).

    Raises:
        DatasetError, CheckpointError: see `split_identities`, `Trainer.resume`.
    """
    if not dist.is_main:
        dist.barrier()  # rank 0 detects and caches the crops first; the others then read its cache
    crop_set = crops_for(config, run_dir, recognizer)
    if dist.is_main:
        dist.barrier()
    split = split_identities(crop_set.crops, config.data, seed=config.seed)
    logger.info(
        "%d training identities (%d crops), %d validation identities (%d crops), %d report identities "
        "(%d crops)",
        len(split.train_identities),
        len(split.train_paths),
        len(split.val_identities),
        len(split.val_paths),
        len(split.report_identities),
        len(split.report_paths),
    )
    trainer = Trainer(config, split.without_report(), run_dir, dist=dist)
    if is_resume:
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise DatasetError(f"{run_dir}: nothing to resume ({LAST_CHECKPOINT} is missing)")
        trainer.resume(run_dir / LAST_CHECKPOINT)
    # A resumed run's "before" is its resumed state, not the initial one (report.json's before_step).
    report_split = ReportSplit(split, config, trainer) if split.report_paths and dist.is_main else None
    result = trainer.fit()
    if result.validation is None:
        return None
    report, report_note = (
        report_split.write(run_dir, exported_step=result.best_step) if report_split else (None, "")
    )
    bundle_dir = export_bundle(
        trainer.model,
        config=config,
        validation=result.validation,
        out_dir=run_dir / BUNDLES_DIR,
        version=f"{run_dir.name[:13]}-e{result.best_epoch}",  # + "-" and 8 hex digits: 30 at most
        command=command,
        source=f"FaceGate trainer (git {short_revision(trainer.git_revision)}), run {run_dir.name}, "
        f"best validation at step {result.best_step} (epoch {result.best_epoch}){report_note}",
    )
    return TrainOutcome(result=result, bundle_dir=bundle_dir, skipped_photos=crop_set.skipped, report=report)
