"""Plot training runs side by side: validation accuracy over CPU time, and the mining health per step.

Reads each run directory's `val.csv` (one row per validation; `metrics.csv` when a run has none) and
`steps.csv` (one row per step). Runs whose directories share a name (the same variant trained with
other seeds, e.g. `seed0/arcface`, `seed1/arcface`) are drawn as one variant: the mean over seeds,
with the seeds' range shaded. Three panels: held-out validation accuracy against CPU minutes of the
training process (wall minutes for runs logged before cpu_s existed), the gap between the mean
positive and mean negative cosine of each batch, and the fraction of active triplets (left out when
no run logged triplets, e.g. ArcFace only). `--reference` draws a level on the accuracy panel, such
as a pretrained model's held-out accuracy before fine-tuning.

    .venv/bin/python bench/plot_training.py --out training-curves.png RUN_A RUN_B ...
    .venv/bin/python bench/plot_training.py --out training-issue16.png ../runs/seed*/*
    .venv/bin/python bench/plot_training.py --out ft.png --reference 96.77 pretrained ../runs16/ft-*/*
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SMOOTH_STEPS = 5


def read_rows(path: Path) -> list[dict[str, float]]:
    with path.open() as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def seed_mean(runs: list[list[dict[str, float]]], key: str) -> tuple[npt.NDArray[np.float64], ...]:
    """Mean, min and max of `key` over runs, row by row, over the rows every run has."""
    length = min(len(rows) for rows in runs)
    values = np.array([[row[key] for row in rows[:length]] for rows in runs])
    return values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def _validation_rows(run: Path) -> tuple[list[dict[str, float]], str]:
    if (run / "val.csv").is_file():
        return read_rows(run / "val.csv"), "cpu_s"
    return read_rows(run / "metrics.csv"), "wall_s"


def _smooth(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Moving mean over SMOOTH_STEPS steps (one batch's statistics are noisy)."""
    if len(values) < SMOOTH_STEPS:
        return values
    return np.convolve(values, np.ones(SMOOTH_STEPS) / SMOOTH_STEPS, mode="valid")


def plot(runs: list[Path], out: Path, title: str, *, reference: tuple[float, str] | None = None) -> None:
    """Write the panels for `runs` to `out`; `reference`: (held-out accuracy in %, label) as a level."""
    variants: dict[str, list[Path]] = defaultdict(list)
    for run in runs:
        variants[run.name].append(run)
    steps = {name: [read_rows(run / "steps.csv") for run in seeds] for name, seeds in variants.items()}
    fractions = {name: seed_mean(rows, "active_fraction")[0] for name, rows in steps.items()}
    has_triplets = not all(np.isnan(fraction).all() for fraction in fractions.values())
    figure, axes = plt.subplots(1, 3 if has_triplets else 2, figsize=(15 if has_triplets else 10, 4.6))
    accuracy, gap = axes[0], axes[1]
    colours = plt.get_cmap("tab10")
    time_key = "cpu_s"
    for index, (name, seeds) in enumerate(sorted(variants.items())):
        colour = colours(index % 10)
        validations = [_validation_rows(run) for run in seeds]
        time_key = validations[0][1]
        rows = [rows for rows, _ in validations]
        minutes = seed_mean(rows, time_key)[0] / 60
        mean, low, high = (100 * values for values in seed_mean(rows, "val_accuracy"))
        accuracy.plot(minutes, mean, "o-", color=colour, markersize=3, label=f"{name} ({len(seeds)})")
        accuracy.fill_between(minutes, low, high, color=colour, alpha=0.15)
        positive, negative = (seed_mean(steps[name], key)[0] for key in ("positive_cos", "negative_cos"))
        step_axis = np.arange(1, len(positive) + 1)[SMOOTH_STEPS - 1 :]
        if not np.isnan(positive).all():
            gap.plot(step_axis, _smooth(positive - negative), color=colour)
        if not np.isnan(fractions[name]).all():
            axes[2].plot(step_axis, _smooth(fractions[name]), color=colour)
    if reference is not None:
        accuracy.axhline(reference[0], color="grey", linestyle="--", label=reference[1])
    unit = "CPU minutes of the training process" if time_key == "cpu_s" else "wall minutes"
    accuracy.set(xlabel=unit, ylabel="held-out val accuracy (%)", title="validation (mean of seeds, range)")
    gap.set(xlabel="step", ylabel="mean cos+ − mean cos−", title=f"separation ({SMOOTH_STEPS}-step mean)")
    if has_triplets:  # margin heads (ArcFace) log no triplets: no empty panel for them
        axes[2].set(xlabel="step", ylabel="fraction", title="active triplets", ylim=(0, 1.05))
    accuracy.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (val.csv, steps.csv)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title (say what budget and data)")
    parser.add_argument(
        "--reference",
        nargs=2,
        metavar=("ACCURACY", "LABEL"),
        help="a held-out accuracy in %% drawn as a dashed level, e.g. 96.77 'pretrained, before'",
    )
    args = parser.parse_args()
    reference = (float(args.reference[0]), args.reference[1]) if args.reference else None
    plot(args.runs, args.out, args.title, reference=reference)


if __name__ == "__main__":
    main()
