"""Per-epoch metrics to `metrics.csv` in the run directory, and to TensorBoard when it is installed."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"


class MetricsLog:
    """Appends one CSV row per epoch (the header once), so a resumed run continues the same file."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / METRICS_FILE
        self._tensorboard: Any = None
        if importlib.util.find_spec("torch.utils.tensorboard") and importlib.util.find_spec("tensorboard"):
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def write(self, row: dict[str, float | int]) -> None:
        is_new = not self.path.is_file()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if is_new:
                writer.writeheader()
            writer.writerow(row)
        if self._tensorboard is not None:
            for key, value in row.items():
                if key != "epoch":
                    self._tensorboard.add_scalar(key, value, int(row["epoch"]))
            self._tensorboard.flush()

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
