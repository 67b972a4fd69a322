"""Train the issue-4/16 variants on the CelebA subset under equal wall or CPU budgets, one after another.

Each variant trains MobileFaceNet on `celeba-subset-aligned112` (minus the identities in
`possible_lfw_overlap.tsv`, 20 held-out validation identities and any report identities) and exports a
bundle; the JSON summary (last stdout line) has the validation numbers, images/s and wall minutes of
each (and the report split's, RUN/report.json). LFW is measured afterwards with
`bench/train_lfw.py eval --bundle RUN/bundles/NAME`.

    nice -n 10 .venv/bin/python bench/train_variants.py --out ../train-runs --budget-min 5
    nice -n 19 .venv/bin/python bench/train_variants.py --out ../runs --budget-cpu-min 4 --validate-every 20
    nice -n 19 .venv/bin/python bench/train_variants.py --out ../runs/ft --budget-cpu-min 15 --epochs 3 \
        --batch-size 32 --only finetune-foamliu-head-first --frozen-epochs 0.25 --finetune-lr 1e-5
    # the exported state chosen on 20 identities, reported on 40 others (RUN/report.json):
    nice -n 19 .venv/bin/python bench/train_variants.py --out ../runs/ft --budget-cpu-min 15 --epochs 3 \
        --batch-size 32 --only finetune-foamliu-head-first --head-init imprint --freeze-batchnorm \
        --frozen-epochs 0.1 --finetune-lr 3e-5 --validate-every 44 --report-identities 40
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from recognition import RecognitionSettings, Recognizer
from training import (
    ArcFaceConfig,
    BackboneConfig,
    DataConfig,
    OptimConfig,
    TrainConfig,
    TripletConfig,
    train_and_export,
)

CELEBA = "faces/celeba-subset-aligned112"
FOAMLIU = "weights/mobilefacenet_foamliu/mobilefacenet_foamliu_state_dict.pt"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TERMS = "CelebA Dataset Agreement: non-commercial research only; evidence, never a shipped default"


def no_recognizer() -> Recognizer:
    """The CelebA subset is already aligned (`is_aligned`), so no photo needs the detector."""
    raise RuntimeError("train_variants trains on aligned crops only; nothing should need detection")


def mined_triplet_losses(switch: float) -> dict[str, TripletConfig]:
    """The issue-16 mining variants; the curricula switch to batch-hard after `switch` epochs."""
    return {
        "batch-hard-soft": TripletConfig(mining="batch_hard", is_soft_margin=True, margin_cos=0.0),
        "semi-hard": TripletConfig(mining="semi_hard"),
        "semi-to-hard": TripletConfig(
            mining="batch_hard", warmup_mining="semi_hard", warmup_mining_epochs=switch
        ),
        "warm-start-hard": TripletConfig(
            mining="batch_hard", warmup_mining="none", warmup_mining_epochs=switch
        ),
        "multi-similarity": TripletConfig(mining="multi_similarity"),
        "distance-weighted": TripletConfig(mining="distance_weighted"),
    }


def variants(args: argparse.Namespace) -> dict[str, TrainConfig]:
    celeba = args.data / CELEBA
    overlap_lines = (celeba / "possible_lfw_overlap.tsv").read_text().splitlines()[1:]
    data = DataConfig(
        data_dir=celeba,
        is_aligned=True,
        exclude_identities=tuple(line.split("\t")[0] for line in overlap_lines if line.strip()),
        val_identities=args.val_identities,
        report_identities=args.report_identities,
        max_identities=args.max_identities,
    )
    epochs = args.epochs
    optim = OptimConfig(
        epochs=epochs,
        warmup_epochs=0.1,
        max_wall_minutes=args.budget_min,
        max_cpu_minutes=args.budget_cpu_min,
        validate_every_steps=args.validate_every,
        best_state_from=args.best_state_from,
        is_start_validated=not args.no_start_validation,
        learning_rate=1e-3,
    )
    common = {
        "data": data,
        "optim": optim,
        "backbone": BackboneConfig(kind=args.backbone, name=args.backbone_name),
        "batch_size": args.batch_size,
        "images_per_identity": 4,
        "threads": args.threads,
        "seed": args.seed,
        "licence": "none: CelebA-derived weights, non-commercial research only",
        "training_data_description": f"CelebA identities 7201-7499 aligned 112x112 ({TERMS})",
    }
    finetune_optim = optim.model_copy(
        update={
            "learning_rate": args.finetune_lr,
            "head_init": args.head_init,
            "is_batchnorm_frozen": args.freeze_batchnorm,
        }
    )
    return {
        "arcface": TrainConfig(loss=ArcFaceConfig(scale=32.0), bundle_name="celeba-arcface", **common),
        "triplet-batch-hard": TrainConfig(
            loss=TripletConfig(mining="batch_hard"), bundle_name="celeba-triplet-hard", **common
        ),
        "triplet-no-mining": TrainConfig(
            loss=TripletConfig(mining="none"), bundle_name="celeba-triplet-all", **common
        ),
        **{
            f"triplet-{name}": TrainConfig(loss=loss, bundle_name=f"celeba-triplet-{name}", **common)
            for name, loss in mined_triplet_losses(args.switch_epochs or max(0.5, epochs / 5)).items()
        },
        **{
            name: TrainConfig(
                **{
                    **common,
                    "optim": finetune_optim.model_copy(update={"freeze_body_epochs": frozen_epochs}),
                    "backbone": BackboneConfig(init_weights=args.data / FOAMLIU),
                },
                loss=ArcFaceConfig(scale=32.0),
                mean=IMAGENET_MEAN,
                std=IMAGENET_STD,
                bundle_name=bundle,
            )
            for name, frozen_epochs, bundle in (
                ("finetune-foamliu-arcface", 0.0, "celeba-finetuned-foamliu"),
                ("finetune-foamliu-head-first", args.frozen_epochs, "celeba-finetuned-foamliu-head-first"),
            )
        },
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=RecognitionSettings().data_dir,
        help="shared data directory (default: FACEGATE_DATA_DIR, else ../shared/data)",
    )
    parser.add_argument("--out", type=Path, required=True, help="one run directory per variant inside")
    parser.add_argument("--budget-min", type=float, help="training wall minutes per variant")
    parser.add_argument(
        "--budget-cpu-min",
        type=float,
        help="training CPU minutes per variant (equal budgets when the machine's load varies)",
    )
    parser.add_argument("--validate-every", type=int, help="also validate every N steps (val.csv)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs the schedule spans")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument(
        "--switch-epochs",
        type=float,
        help="epochs before the curricula switch to batch-hard (default: a fifth of --epochs, at least 0.5)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; 1 is 3-5x faster than 2 on a loaded 2-core machine",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds the split, weights and batches")
    parser.add_argument("--batch-size", type=int, default=64, help="identities × 4 images")
    parser.add_argument("--val-identities", type=int, default=20, help="held-out CelebA identities")
    parser.add_argument(
        "--report-identities",
        type=int,
        default=0,
        help="CelebA identities held out from training and from validation (which picks the exported "
        "state), measured before training and on the exported state into RUN/report.json",
    )
    parser.add_argument(
        "--no-start-validation",
        action="store_true",
        help="do not validate the initial state (step 0) as a candidate for the exported state (as before "
        "it was, to reproduce earlier tables)",
    )
    parser.add_argument("--max-identities", type=int, help="use only the first N identities (smoke runs)")
    parser.add_argument(
        "--frozen-epochs",
        type=float,
        default=1.0,
        help="finetune-foamliu-head-first: epochs with the body frozen before the whole network trains "
        "(a short head warm-up, e.g. 0.25, leaves a CPU budget for hundreds of full-network steps)",
    )
    parser.add_argument(
        "--finetune-lr",
        type=float,
        default=1e-4,
        help="peak learning rate of the pretrained body in the finetune-* variants (the head gets 10x)",
    )
    parser.add_argument(
        "--head-init",
        choices=("random", "imprint"),
        default="random",
        help="finetune-* variants: the ArcFace head's class centres at the start (imprint: each training "
        "identity's normalised mean embedding under the pretrained body)",
    )
    parser.add_argument(
        "--freeze-batchnorm",
        action="store_true",
        help="finetune-* variants: BatchNorm keeps the pretrained running statistics for the whole run",
    )
    parser.add_argument(
        "--best-state-from",
        choices=("any_validation", "epoch_ends"),
        default="any_validation",
        help="validations that may pick the exported state (epoch_ends: as before mid-epoch states could be "
        "exported, e.g. to reproduce the first two sessions' tables)",
    )
    parser.add_argument("--backbone", default="mobilefacenet", help="BackboneConfig.kind")
    parser.add_argument("--backbone-name", default="", help="BackboneConfig.name (e.g. resnet18)")
    args = parser.parse_args()
    if args.budget_min is None and args.budget_cpu_min is None:
        parser.error("give --budget-min, --budget-cpu-min or both")
    summary = {}
    for name, config in variants(args).items():
        if args.only and name not in args.only:
            continue
        started = time.monotonic()
        outcome = train_and_export(
            config, args.out / name, recognizer=no_recognizer, command=" ".join(sys.argv)
        )
        if outcome is None:  # only the non-zero ranks of a torchrun group get None; this is one process
            raise RuntimeError(f"{name}: the trainer returned no outcome")
        best = outcome.result.epochs[outcome.result.best_epoch - 1]
        exported = outcome.result.validation  # the best validated state's scores (mid-epoch or not)
        if exported is None:
            raise RuntimeError(f"{name}: the trainer did not validate its best state")
        summary[name] = {
            "bundle": str(outcome.bundle_dir),
            "best_step": outcome.result.best_step,
            "val_accuracy": exported.accuracy,
            "val_accuracy_std": exported.accuracy_std,
            "val_tar_at_far_1e3": exported.tar_at_far_1e3,
            "train_images_per_s": best.images_per_s,
            "train_loss": best.train_loss,
            "wall_min": round((time.monotonic() - started) / 60.0, 2),
            "train_cpu_min": round(outcome.result.epochs[-1].cpu_s / 60.0, 2),
            "stopped_because": outcome.result.stopped_because,
            "report": outcome.report,
        }
        sys.stderr.write(json.dumps({name: summary[name]}) + "\n")
    sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
