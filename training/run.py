"""One call from a folder of identity subfolders to an exported bundle: crops → split → train → export."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recognition import Recognizer
from training.checkpoint import LAST_CHECKPOINT, git_revision
from training.config import TrainConfig
from training.data import split_identities
from training.distributed import SINGLE_PROCESS, DistContext
from training.errors import DatasetError
from training.export import export_bundle
from training.history import TrainResult
from training.preprocess import CropSet, aligned_crop_set, detect_and_align
from training.trainer import Trainer

logger = logging.getLogger(__name__)

BUNDLES_DIR = "bundles"


@dataclass(frozen=True)
class TrainOutcome:
    """The finished run and where its bundle is."""

    result: TrainResult
    bundle_dir: Path
    skipped_photos: tuple[tuple[Path, str], ...]


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
        "%d training identities (%d crops), %d validation identities (%d crops)",
        len(split.train_identities),
        len(split.train_paths),
        len(split.val_identities),
        len(split.val_paths),
    )
    trainer = Trainer(config, split, run_dir, dist=dist)
    if is_resume:
        if not (run_dir / LAST_CHECKPOINT).is_file():
            raise DatasetError(f"{run_dir}: nothing to resume ({LAST_CHECKPOINT} is missing)")
        trainer.resume(run_dir / LAST_CHECKPOINT)
    result = trainer.fit()
    if result.validation is None:
        return None
    revision = git_revision(Path(__file__).resolve().parent)
    bundle_dir = export_bundle(
        trainer.model,
        config=config,
        validation=result.validation,
        out_dir=run_dir / BUNDLES_DIR,
        version=f"{run_dir.name[:22]}-e{result.best_epoch}",
        command=command,
        source=f"FaceGate trainer (git {revision[:12]}), run {run_dir.name}, best validation at step "
        f"{result.best_step} (epoch {result.best_epoch})",
    )
    return TrainOutcome(result=result, bundle_dir=bundle_dir, skipped_photos=crop_set.skipped)
