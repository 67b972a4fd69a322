"""The training loop: P×M batches, mixed precision (training.precision), clipping, warm-up + cosine,
per-epoch validation, atomic checkpoints with exact resume at epoch boundaries, early stop (H1, H2, H5)."""
# Longer than B3's 400 lines: one Trainer class, whose steps share its model, optimiser, budget, best state.

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.augment import Augmenter
from training.backbones import build_backbone
from training.budget import RunBudget
from training.checkpoint import (
    BEST_CHECKPOINT,
    LAST_CHECKPOINT,
    git_revision,
    load_checkpoint,
    load_initial_weights,
    save_atomically,
)
from training.config import TrainConfig
from training.data import CropDataset, Split, load_crops, normalise
from training.distributed import SINGLE_PROCESS, DistContext
from training.errors import CheckpointError
from training.history import EpochMetrics, EpochRun, TrainResult
from training.imprint import body_class_centres, imprint_margin_head
from training.metrics_log import STEPS_FILE, VALIDATION_FILE, MetricsLog
from training.mining_stats import StepStats
from training.objective import TrainingNetwork, build_objective
from training.precision import resolve_precision
from training.runtime import resolve_device, seed_everything
from training.samplers import IdentityBatchSampler
from training.schedule import warmup_cosine
from training.validation import ValidationResult, validate_identities

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
RANK_SEED_STRIDE = 100_003
"""Augmentation seeds of different ranks are this far apart, so ranks do not share random crops."""
SEEDS_FILE = "seeds.json"
BATCHNORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class Trainer:
    """Trains `config.backbone` on a split and writes everything into `run_dir`."""

    def __init__(
        self,
        config: TrainConfig,
        split: Split,
        run_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
        dist: DistContext = SINGLE_PROCESS,
    ) -> None:
        """`clock`, `cpu_clock`: wall and process CPU seconds (optim.max_wall_minutes, max_cpu_minutes);
        `dist`: this process's rank in a data-parallel group (see training.distributed)."""
        self.config = config
        self.split = split
        self.run_dir = run_dir
        self.clock = clock
        self.budget = RunBudget(
            config.optim.max_wall_minutes, config.optim.max_cpu_minutes, clock=clock, cpu_clock=cpu_clock
        )
        self.dist = dist
        # The code this process runs: read once, since HEAD may move while a long run trains.
        self.git_revision = git_revision(Path(__file__).resolve().parent)
        self.device = dist.device(resolve_device(config.device))
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        seed_everything(config.seed)
        self.precision = resolve_precision(config.mixed_precision, self.device)
        self.model = build_backbone(config.backbone).to(self.device)
        self.model.to(memory_format=self.precision.memory_format)
        if config.backbone.init_weights is not None:
            load_initial_weights(self.model, config.backbone.init_weights)
        self.objective = build_objective(
            config.loss, num_classes=len(split.train_identities), embedding_dim=config.backbone.embedding_dim
        ).to(self.device)
        self.train_images = load_crops(split.train_paths)
        self.val_images = load_crops(split.val_paths)
        if config.optim.head_init == "imprint":  # before the DDP wrapper, which broadcasts rank 0's head
            started_s = cpu_clock()
            centres = body_class_centres(self.model, self.train_images, split.train_labels, config=config)
            imprint_margin_head(self.objective.loss, centres)
            logger.info("imprinted %d class centres in %.1f CPU s", len(centres), cpu_clock() - started_s)
        self.network = dist.wrap(TrainingNetwork(self.model, self.objective), self.device)
        self.optimizer = self._optimizer()
        self.images_per_step = config.batch_size * dist.world_size
        self.steps_per_epoch = len(split.train_labels) // self.images_per_step
        self.scheduler = warmup_cosine(
            self.optimizer,
            warmup_steps=max(1, round(config.optim.warmup_epochs * self.steps_per_epoch)),
            total_steps=config.optim.epochs * self.steps_per_epoch,
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.is_loss_scaled)
        self.epoch = 0
        self.step = 0
        self.best_accuracy = -1.0
        self.best_epoch = 0
        self.best_step = 0
        self.history: list[EpochMetrics] = []

    def _optimizer(self) -> torch.optim.Optimizer:
        optim = self.config.optim
        head_rate = optim.learning_rate * optim.head_learning_rate_multiplier
        groups = [
            {"params": list(self.model.parameters()), "lr": optim.learning_rate},
            {"params": list(self.objective.parameters()), "lr": head_rate},
        ]
        groups = [group for group in groups if group["params"]]
        if optim.optimizer == "sgd":
            return torch.optim.SGD(groups, momentum=0.9, weight_decay=optim.weight_decay)
        return torch.optim.AdamW(groups, weight_decay=optim.weight_decay)

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (H2); seeds are re-derived from seed + epoch."""
        return {
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "best_step": self.best_step,
            "history": [vars(m) for m in self.history],
            "config": self.config.model_dump_json(),
            "git_revision": self.git_revision,
        }

    def resume(self, path: Path) -> None:
        """Continue from a checkpoint of the same configuration.

        Raises:
            CheckpointError: unreadable, or written with a different configuration.
        """
        state = load_checkpoint(path)
        if state.get("config") != self.config.model_dump_json():
            raise CheckpointError(
                f"{path}: written with a different configuration; start a new run directory"
            )
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_accuracy, self.best_epoch = float(state["best_accuracy"]), int(state["best_epoch"])
        self.best_step = int(state.get("best_step", self.best_epoch * self.steps_per_epoch))
        self.history = [EpochMetrics(**row) for row in state["history"]]
        logger.info("resumed %s after epoch %d", path, self.epoch)

    def _loader(self) -> DataLoader[tuple[torch.Tensor, int]]:
        # Re-seeding per epoch (and rank) makes a resumed run draw the same batches and augmentations.
        seed_everything(self.config.seed + self.epoch + RANK_SEED_STRIDE * self.dist.rank)
        dataset = CropDataset(self.train_images, self.split.train_labels, Augmenter(self.config.augment))
        sampler = IdentityBatchSampler(
            self.split.train_labels,
            batch_size=self.config.batch_size,
            images_per_identity=self.config.images_per_identity,
            seed=self.config.seed,
            epoch=self.epoch,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        return DataLoader(dataset, batch_sampler=sampler, num_workers=self.config.num_workers)

    def is_body_frozen(self) -> bool:
        """Fine-tuning's first phase: only the margin head learns (optim.freeze_body_epochs)."""
        return bool(self.step < round(self.config.optim.freeze_body_epochs * self.steps_per_epoch))

    def _set_body_mode(self) -> None:
        """Training mode, except that a frozen body, or every BatchNorm layer under
        optim.is_batchnorm_frozen, normalises with (and keeps) its running statistics."""
        self.model.train(not self.is_body_frozen())
        if self.config.optim.is_batchnorm_frozen:
            for module in (m for m in self.model.modules() if isinstance(m, BATCHNORM_TYPES)):
                module.eval()

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, StepStats]:
        images = normalise(
            images.to(self.device, non_blocking=True), mean=self.config.mean, std=self.config.std
        ).contiguous(memory_format=self.precision.memory_format)
        labels = labels.to(self.device)
        autocast_dtype = self.precision.autocast_dtype
        with torch.autocast(self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss, stats = self.network(images, labels, epochs_done=self.step / self.steps_per_epoch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.is_body_frozen():
            # No gradient, so the optimiser leaves the body (and its moments and weight decay) alone.
            # Backward still runs through the body: DistributedDataParallel expects every gradient.
            for param in self.model.parameters():
                param.grad = None
        if self.config.optim.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the loss-scaled ones
            params = [
                p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None
            ]
            nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return float(loss.detach()), StepStats.from_tensor(stats)

    def _log_step(self, log: MetricsLog, loss: float, stats: StepStats, started_s: float) -> None:
        row: dict[str, float | int] = {
            "step": self.step,
            "epoch": self.epoch + 1,
            "loss": loss,
            "learning_rate": self.optimizer.param_groups[0]["lr"],
            **vars(stats),
            "wall_s": self.clock() - started_s,
            "cpu_s": self.budget.cpu_s(),
        }
        log.write(row)

    def _train_epoch(self, steps_log: MetricsLog, val_log: MetricsLog) -> EpochRun:
        """One pass (cut short when a time budget ends mid-epoch), one steps.csv row per step."""
        self.network.train()
        losses: list[float] = []
        stats: list[StepStats] = []
        started = self.clock()
        is_tty = sys.stderr.isatty()
        is_quiet = not self.dist.is_main  # one progress report per run, from rank 0
        loader, desc = self._loader(), f"epoch {self.epoch + 1}"
        bar = tqdm(loader, total=self.steps_per_epoch, desc=desc, disable=is_quiet or not is_tty)
        for images, labels in bar:
            self._set_body_mode()
            loss, step_stats = self._train_step(images, labels)
            losses.append(loss)
            stats.append(step_stats)
            self._log_step(steps_log, loss, step_stats, started)
            rate = len(losses) * self.images_per_step / max(1e-9, self.clock() - started)
            bar.set_postfix(
                loss=f"{loss:.3f}",
                act=f"{step_stats.active_fraction:.2f}",
                pos=f"{step_stats.positive_cos:.2f}",
                neg=f"{step_stats.negative_cos:.2f}",
                img_s=f"{rate:.0f}",
            )
            if not (is_tty or is_quiet) and len(losses) % self.config.log_every_steps == 0:
                eta_s = (self.steps_per_epoch - len(losses)) * self.images_per_step / rate
                logger.info(
                    "epoch %d step %d/%d loss %.4f active %.2f cos+ %.3f cos- %.3f %.1f img/s eta %.0f s",
                    self.epoch + 1,
                    len(losses),
                    self.steps_per_epoch,
                    loss,
                    step_stats.active_fraction,
                    step_stats.positive_cos,
                    step_stats.negative_cos,
                    rate,
                    eta_s,
                )
            if self.dist.any(bool(self.budget.used_up())):  # every rank stops after the same step
                logger.info("budget used after %d steps of epoch %d", len(losses), self.epoch + 1)
                break
            every = self.config.optim.validate_every_steps
            if every and self.step % every == 0 and len(losses) < self.steps_per_epoch and self.dist.is_main:
                self._record_validation(val_log, self.validate(), is_mid_epoch=True)
        rate = len(losses) * self.images_per_step / max(1e-9, self.clock() - started)
        return EpochRun(losses=losses, stats=stats, images_per_s=rate)

    def validate(self) -> ValidationResult:
        """Metrics of the current model on the held-out identities."""
        return validate_identities(
            self.model,
            self.val_images,
            self.split.val_labels,
            mean=self.config.mean,
            std=self.config.std,
            device=self.device,
            seed=self.config.seed,
        )

    def _record_validation(
        self, val_log: MetricsLog, result: ValidationResult, *, is_mid_epoch: bool
    ) -> None:
        """One val.csv row (accuracy over steps, wall and CPU time); the best validated state so far,
        at the start, at an epoch's end or mid-epoch (unless optim.best_state_from is "epoch_ends"), becomes
        best.pt (rank 0 only: only it validates)."""
        is_candidate = not is_mid_epoch or self.config.optim.best_state_from == "any_validation"
        if is_candidate and result.accuracy > self.best_accuracy:
            self.best_accuracy, self.best_step = result.accuracy, self.step
            self.best_epoch = max(1, math.ceil(self.step / self.steps_per_epoch))
            save_atomically(self.state(), self.run_dir / BEST_CHECKPOINT)
        val_log.write(
            {
                "step": self.step,
                "epoch": self.step / self.steps_per_epoch,
                "wall_s": self.budget.wall_s(),
                "cpu_s": self.budget.cpu_s(),
                "val_accuracy": result.accuracy,
                "val_accuracy_std": result.accuracy_std,
                "val_tar_at_far_1e3": result.tar_at_far_1e3,
            }
        )

    def _epoch_metrics(self, run: EpochRun, val_log: MetricsLog) -> EpochMetrics:
        result = self.validate()
        self._record_validation(val_log, result, is_mid_epoch=False)
        return EpochMetrics(
            epoch=self.epoch,
            train_loss=float(np.mean(run.losses)) if run.losses else math.nan,
            images_per_s=run.images_per_s,
            learning_rate=self.optimizer.param_groups[0]["lr"],
            val_accuracy=result.accuracy,
            val_accuracy_std=result.accuracy_std,
            val_tar_at_far_1e3=result.tar_at_far_1e3,
            wall_s=self.budget.wall_s(),
            cpu_s=self.budget.cpu_s(),
            **vars(run.mean_stats()),
        )

    def _end_epoch(self, run: EpochRun, val_log: MetricsLog) -> tuple[EpochMetrics, str]:
        """Rank 0 validates and checkpoints; every rank gets its metrics and its reason to stop (or "")."""
        self.epoch += 1
        is_main = self.dist.is_main
        metrics = self.dist.from_main(self._epoch_metrics(run, val_log) if is_main else None)
        self.history.append(metrics)
        if is_main:
            save_atomically(self.state(), self.run_dir / LAST_CHECKPOINT)
            logger.info(
                "epoch %d: loss %.4f, %.1f img/s, active %.2f, cos+ %.3f, cos- %.3f, "
                "val accuracy %.4f ± %.4f, TAR@FAR1e-3 %.4f",
                self.epoch,
                metrics.train_loss,
                metrics.images_per_s,
                metrics.active_fraction,
                metrics.positive_cos,
                metrics.negative_cos,
                metrics.val_accuracy,
                metrics.val_accuracy_std,
                metrics.val_tar_at_far_1e3,
            )
        reason = self.dist.from_main(self._stop_reason() if is_main else None)
        return metrics, reason

    def _stop_reason(self) -> str:
        optim = self.config.optim
        if used_up := self.budget.used_up():
            return f"{used_up} (epoch {self.epoch})"
        if self.epoch >= optim.epochs:
            return f"finished {optim.epochs} epochs"
        patience = optim.early_stop_patience_epochs
        if patience is not None and self.epoch - self.best_epoch >= patience:
            return f"early stop: no validation gain for {patience} epochs"
        return ""

    def fit(self) -> TrainResult:
        """Train until the schedule ends, early stop or a time budget; returns the best validated state's
        scores (any validation: an epoch's end or, with optim.validate_every_steps, inside an epoch).

        Only rank 0 writes files and validates; other ranks return the same epochs without validation.
        """
        is_main = self.dist.is_main
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if is_main:
            (self.run_dir / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n")
            seeds = {
                "seed": self.config.seed,
                "batches": "(seed, epoch)",
                "augment": "seed+epoch+100003*rank",
            }
            (self.run_dir / SEEDS_FILE).write_text(json.dumps(seeds))
        log = MetricsLog(self.run_dir, is_enabled=is_main)
        steps_log = MetricsLog(self.run_dir, file_name=STEPS_FILE, x_key="step", is_enabled=is_main)
        val_log = MetricsLog(self.run_dir, file_name=VALIDATION_FILE, x_key="step", is_enabled=is_main)
        self.budget.start()
        if is_main and self.step == 0 and self.config.optim.is_start_validated:
            self._record_validation(val_log, self.validate(), is_mid_epoch=False)  # the start: a candidate
        # Only a resumed, already finished run stops before training: a budget always allows one step.
        reason = (
            f"finished {self.config.optim.epochs} epochs" if self.epoch >= self.config.optim.epochs else ""
        )
        while not reason:
            metrics, reason = self._end_epoch(self._train_epoch(steps_log, val_log), val_log)
            log.write(vars(metrics))
        for each in (log, steps_log, val_log):
            each.close()
        self.best_epoch, self.best_step = self.dist.from_main(
            (self.best_epoch, self.best_step) if is_main else None  # only rank 0 validates
        )
        logger.info("stopped: %s; best validation at step %d", reason, self.best_step)
        if is_main:
            load_initial_weights(self.model, self.run_dir / BEST_CHECKPOINT)
        return TrainResult(
            run_dir=self.run_dir,
            epochs=tuple(self.history),
            best_epoch=self.best_epoch,
            best_step=self.best_step,
            stopped_because=reason,
            validation=self.validate() if is_main else None,
        )
