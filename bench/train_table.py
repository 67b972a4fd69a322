"""The issue-16 table: LFW accuracy per training variant as mean ± std over seeds.

Reads the JSON that `bench/train_lfw.py eval` prints (its last stdout line), saved as
`RESULTS/VARIANT/seedN.json`, and prints a Markdown table: seeds, LFW accuracy mean ± std over seeds,
the mean of the per-run ten-fold std, and TAR at FAR 1e-3 mean ± std. With `--baseline VARIANT`, a
column of each variant's LFW accuracy minus the baseline's, paired by seed (a seed fixes the split,
the initial weights and the batches), mean ± std. With `--runs RUNS` (RUNS/seedN/VARIANT run
directories), columns of what the training logged: steps, the held-out validation accuracy at the
end, and the mean active-triplet fraction and cos+ − cos− over the last ten steps.

    .venv/bin/python bench/train_table.py ../train-runs16/lfw
    .venv/bin/python bench/train_table.py ../runs/lfw --runs ../runs --baseline triplet-no-mining
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

LAST_STEPS = 10


def _std(values: npt.NDArray[np.float64]) -> float:
    """Sample std over seeds (0 for a single seed, which the seeds column shows)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _pm(values: npt.NDArray[np.float64], unit: str = "") -> str:
    return f"{values.mean():.2f}{unit} ± {_std(values):.2f}"


def seed_files(variant: Path) -> list[Path]:
    """The variant's seedN.json files that hold a result (an evaluation still running leaves one empty)."""
    return [path for path in sorted(variant.glob("seed*.json")) if path.read_text().strip()]


def lfw_accuracy(variant: Path) -> dict[str, float]:
    """Seed file stem (seedN) → LFW accuracy in percent."""
    return {
        path.stem: 100 * json.loads(path.read_text().splitlines()[-1])["accuracy"]
        for path in seed_files(variant)
    }


def lfw_columns(variant: Path, seeds: list[str]) -> list[str]:
    """LFW accuracy mean ± std over seeds, mean ten-fold std, TAR@FAR1e-3 mean ± std."""
    runs = [json.loads((variant / f"{seed}.json").read_text().splitlines()[-1]) for seed in seeds]
    accuracy = np.array([run["accuracy"] for run in runs]) * 100
    fold_std = np.array([run["accuracy_std"] for run in runs]) * 100
    tar = np.array([run["tar_at_far_1e3"] for run in runs]) * 100
    return [_pm(accuracy, "%"), f"{fold_std.mean():.2f}", _pm(tar, "%")]


def training_columns(runs: Path, variant: str, seeds: list[str]) -> list[str]:
    """Steps, final held-out validation accuracy, active fraction and cos gap of the last steps."""
    steps, val, active, gap = [], [], [], []
    for seed in seeds:
        with (runs / seed / variant / "steps.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        with (runs / seed / variant / "val.csv").open() as handle:
            val.append(100 * float(list(csv.DictReader(handle))[-1]["val_accuracy"]))
        steps.append(float(len(rows)))
        last = rows[-LAST_STEPS:]
        active.append(float(np.mean([float(row["active_fraction"]) for row in last])))
        gap.append(float(np.mean([float(row["positive_cos"]) - float(row["negative_cos"]) for row in last])))
    active_text = "–" if np.isnan(active).all() else _pm(np.array(active))
    return [f"{np.mean(steps):.0f}", _pm(np.array(val), "%"), active_text, f"{np.mean(gap):+.3f}"]


def table(results: Path, *, runs: Path | None = None, baseline: str | None = None) -> str:
    header = ["variant", "seeds", "LFW accuracy, mean ± std over seeds", "mean ten-fold std", "TAR@FAR1e-3"]
    if baseline is not None:
        header.append(f"LFW − {baseline}, paired by seed")
    if runs is not None:
        header += ["steps", "held-out val accuracy (end)", f"active fraction (last {LAST_STEPS} steps)"]
        header.append(f"cos+ − cos− (last {LAST_STEPS} steps)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    reference = lfw_accuracy(results / baseline) if baseline is not None else {}
    for variant in sorted(p for p in results.iterdir() if p.is_dir()):
        seeds = [path.stem for path in seed_files(variant)]
        if not seeds:
            continue
        cells = [variant.name, str(len(seeds)), *lfw_columns(variant, seeds)]
        if baseline is not None:
            mine = lfw_accuracy(variant)
            paired = [seed for seed in seeds if seed in reference]
            cells.append(_pm(np.array([mine[seed] - reference[seed] for seed in paired])) + " points")
        if runs is not None:
            cells += training_columns(runs, variant.name, seeds)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="folder of VARIANT/seedN.json files")
    parser.add_argument("--runs", type=Path, help="folder of seedN/VARIANT run directories")
    parser.add_argument("--baseline", help="variant the others are compared with, seed by seed")
    args = parser.parse_args()
    sys.stdout.write(table(args.results, runs=args.runs, baseline=args.baseline) + "\n")


if __name__ == "__main__":
    main()
