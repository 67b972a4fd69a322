"""`facegate train`: metric learning from a folder of identity subfolders to a deployable model bundle."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.consoles import console, err_console
from api.cli.runtime import cli_errors, configure_logging
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import StorageSettings


def _overrides(**values: Any) -> dict[str, Any]:
    """CLI options as TrainConfig dotted keys; options left unset keep the TOML or default value."""
    keys = {
        "data_dir": "data.data_dir",
        "is_aligned": "data.is_aligned",
        "val_identities": "data.val_identities",
        "report_identities": "data.report_identities",
        "loss": "loss.kind",
        "mining": "loss.mining",
        "backbone": "backbone.kind",
        "backbone_name": "backbone.name",
        "embedding_dim": "backbone.embedding_dim",
        "init_weights": "backbone.init_weights",
        "epochs": "optim.epochs",
        "max_minutes": "optim.max_wall_minutes",
        "max_cpu_minutes": "optim.max_cpu_minutes",
        "learning_rate": "optim.learning_rate",
        "freeze_body_epochs": "optim.freeze_body_epochs",
        "head_init": "optim.head_init",
        "batch_size": "batch_size",
        "device": "device",
        "mixed_precision": "mixed_precision",
        "bundle_name": "bundle_name",
        "seed": "seed",
    }
    return {keys[name]: (str(v) if isinstance(v, Path) else v) for name, v in values.items() if v is not None}


def _recognizer() -> Recognizer:
    return build_recognizer(RecognitionSettings(), cache_dir=StorageSettings().home / "models")


def train_command(
    data_dir: Annotated[Path | None, typer.Argument(help="Folder of identity subfolders of photos.")] = None,
    out: Annotated[
        Path, typer.Option(help="Run directory: config, metrics.csv, checkpoints, bundles/.")
    ] = Path("runs/train"),
    config: Annotated[Path | None, typer.Option(help="TrainConfig TOML; options below override it.")] = None,
    aligned: Annotated[
        bool | None, typer.Option("--aligned/--detect", help="Photos are already 112×112 aligned crops.")
    ] = None,
    loss: Annotated[str | None, typer.Option(help="arcface, cosface or triplet.")] = None,
    mining: Annotated[
        str | None,
        typer.Option(help="Mining: batch_hard, semi_hard, multi_similarity, distance_weighted or none."),
    ] = None,
    backbone: Annotated[str | None, typer.Option(help="mobilefacenet, resnet, torchvision or timm.")] = None,
    backbone_name: Annotated[
        str | None, typer.Option(help="resnet18/34/50 for resnet, or a torchvision/timm model name.")
    ] = None,
    embedding_dim: Annotated[int | None, typer.Option(help="Embedding length.")] = None,
    init_weights: Annotated[
        Path | None, typer.Option(help="Fine-tune from a state dict, a checkpoint or a bundle directory.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs of the cosine schedule.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop once this many wall minutes are used.")
    ] = None,
    max_cpu_minutes: Annotated[
        float | None,
        typer.Option(help="Stop once this process has used this many CPU minutes (fair under varying load)."),
    ] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    freeze_body_epochs: Annotated[
        float | None, typer.Option(help="Fine-tuning: epochs that train only the margin head first.")
    ] = None,
    head_init: Annotated[
        str | None,
        typer.Option(
            help="Margin head's class centres: random, or imprint (each training identity's mean embedding "
            "under the initial body; for fine-tuning)."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch.")] = None,
    val_identities: Annotated[int | None, typer.Option(help="Identities held out for validation.")] = None,
    report_identities: Annotated[
        int | None,
        typer.Option(
            help="Identities held out of training and of validation; the initial and the exported state are "
            "measured on them into OUT/report.json, a gain not chosen on the identities that report it."
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
    mixed_precision: Annotated[
        str | None,
        typer.Option(
            help="auto (float16 on CUDA, off on the CPU), off, float16 (CUDA) or bfloat16 (on the CPU: "
            "several times faster where it has AVX512-BF16 or AMX)."
        ),
    ] = None,
    bundle_name: Annotated[str | None, typer.Option(help="Name of the exported bundle.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (recorded in the run directory).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    verbose: Annotated[bool, typer.Option(help="Log progress lines.")] = False,
) -> None:
    """Train an embedding model (ArcFace, CosFace or triplet) and export it as a model bundle."""
    configure_logging(verbose=verbose)
    try:
        import training
    except ImportError as exc:
        err_console.print(f"error: training needs the train extra: pip install 'facegate[train]' ({exc})")
        raise typer.Exit(1) from exc
    overrides = _overrides(
        data_dir=data_dir,
        is_aligned=aligned,
        loss=loss,
        mining=mining,
        backbone=backbone,
        backbone_name=backbone_name,
        embedding_dim=embedding_dim,
        init_weights=init_weights,
        epochs=epochs,
        max_minutes=max_minutes,
        max_cpu_minutes=max_cpu_minutes,
        learning_rate=learning_rate,
        freeze_body_epochs=freeze_body_epochs,
        head_init=head_init,
        batch_size=batch_size,
        val_identities=val_identities,
        report_identities=report_identities,
        device=device,
        mixed_precision=mixed_precision,
        bundle_name=bundle_name,
        seed=seed,
    )
    with cli_errors():
        try:
            train_config = training.load_config(config, overrides)
            with training.distributed_from_env(training.resolve_device(train_config.device)) as dist:
                outcome = training.train_and_export(
                    train_config,
                    out,
                    recognizer=_recognizer,
                    is_resume=resume,
                    command=shlex.join(sys.argv),
                    dist=dist,
                )
        except training.TrainingError as exc:
            err_console.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from exc
    if outcome is None:
        return  # a torchrun rank other than 0: rank 0 reports
    for photo, reason in outcome.skipped_photos:
        console.print(f"skipped {photo}: {reason}", markup=False, highlight=False)
    for row in outcome.result.epochs:
        console.print(
            f"epoch {row.epoch}: loss {row.train_loss:.4f}, {row.images_per_s:.1f} images/s, "
            f"validation accuracy {row.val_accuracy:.4f} ± {row.val_accuracy_std:.4f}, "
            f"TAR@FAR1e-3 {row.val_tar_at_far_1e3:.4f}",
            markup=False,
            highlight=False,
        )
    console.print(
        f"stopped: {outcome.result.stopped_because}; best validation at step {outcome.result.best_step} "
        f"(epoch {outcome.result.best_epoch})"
    )
    console.print(f"bundle: {outcome.bundle_dir}", markup=False, highlight=False)
