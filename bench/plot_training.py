"""Plot training runs side by side: validation accuracy over wall time, and the mining health per step.

Reads each run directory's `metrics.csv` (one row per epoch) and `steps.csv` (one row per step) and
writes one PNG with three panels: held-out validation accuracy against wall minutes, the gap between
the mean positive and mean negative cosine of each batch, and the fraction of active triplets.

    .venv/bin/python bench/plot_training.py --out training-curves.png RUN_A RUN_B ...
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_rows(path: Path) -> list[dict[str, float]]:
    with path.open() as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def plot(runs: list[Path], out: Path, title: str) -> None:
    figure, (accuracy, gap, active) = plt.subplots(1, 3, figsize=(13, 3.6))
    for run in runs:
        epochs = read_rows(run / "metrics.csv")
        steps = read_rows(run / "steps.csv")
        accuracy.plot(
            [row["wall_s"] / 60 for row in epochs],
            [100 * row["val_accuracy"] for row in epochs],
            "o-",
            label=run.name,
        )
        gap.plot([row["step"] for row in steps], [row["positive_cos"] - row["negative_cos"] for row in steps])
        active.plot([row["step"] for row in steps], [row["active_fraction"] for row in steps])
    accuracy.set(xlabel="wall minutes", ylabel="held-out val accuracy (%)", title="validation")
    gap.set(xlabel="step", ylabel="mean cos+ − mean cos−", title="separation per batch")
    active.set(xlabel="step", ylabel="fraction", title="active triplets", ylim=(0, 1.05))
    accuracy.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (metrics.csv, steps.csv)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title (say what budget and data)")
    args = parser.parse_args()
    plot(args.runs, args.out, args.title)


if __name__ == "__main__":
    main()
