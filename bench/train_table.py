"""The issue-16 table: LFW accuracy per training variant as mean ± std over seeds.

Reads the JSON that `bench/train_lfw.py eval` prints (its last stdout line), saved as
`RESULTS/VARIANT/seedN.json`, and prints a Markdown table: seeds, LFW accuracy mean ± std over seeds,
the mean of the per-run ten-fold std, and TAR at FAR 1e-3 mean ± std.

    .venv/bin/python bench/train_table.py ../train-runs16/lfw
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _std(values: np.ndarray) -> float:
    """Sample std over seeds (0 for a single seed, which the seeds column shows)."""
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def table(results: Path) -> str:
    lines = [
        "| variant | seeds | LFW accuracy, mean ± std over seeds | mean ten-fold std | TAR@FAR1e-3 |",
        "|---|---|---|---|---|",
    ]
    for variant in sorted(p for p in results.iterdir() if p.is_dir()):
        runs = [json.loads(path.read_text().splitlines()[-1]) for path in sorted(variant.glob("seed*.json"))]
        if not runs:
            continue
        accuracy = np.array([run["accuracy"] for run in runs]) * 100
        fold_std = np.array([run["accuracy_std"] for run in runs]) * 100
        tar = np.array([run["tar_at_far_1e3"] for run in runs]) * 100
        lines.append(
            f"| {variant.name} | {len(runs)} | {accuracy.mean():.2f}% ± {_std(accuracy):.2f} "
            f"| {fold_std.mean():.2f} | {tar.mean():.2f}% ± {_std(tar):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="folder of VARIANT/seedN.json files")
    sys.stdout.write(table(parser.parse_args().results) + "\n")


if __name__ == "__main__":
    main()
