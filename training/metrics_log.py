"""Metrics to CSV files in the run directory (per epoch and per step), and to TensorBoard when installed."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"
STEPS_FILE = "steps.csv"
VALIDATION_FILE = "val.csv"


class MetricsLog:
    """Appends one CSV row per call (the header once), so a resumed run continues the same file.

    `x_key` names the column TensorBoard plots against (epoch or step); each file gets its own
    TensorBoard folder, `RUN/tensorboard/<file stem>`. A disabled log (ranks other than 0) writes nothing.
    """

    def __init__(
        self, run_dir: Path, *, file_name: str = METRICS_FILE, x_key: str = "epoch", is_enabled: bool = True
    ) -> None:
        self.path = run_dir / file_name
        self.x_key = x_key
        self.is_enabled = is_enabled
        self._tensorboard: Any = None
        if (
            is_enabled
            and importlib.util.find_spec("torch.utils.tensorboard")
            and importlib.util.find_spec("tensorboard")
        ):
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(log_dir=str(run_dir / "tensorboard" / self.path.stem))

    def write(self, row: dict[str, float | int]) -> None:
        if not self.is_enabled:
            return
        is_new = not self.path.is_file()
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            if is_new:
                writer.writeheader()
            writer.writerow(row)
        if self._tensorboard is not None:
            for key, value in row.items():
                if key != self.x_key:
                    self._tensorboard.add_scalar(key, value, int(row[self.x_key]))

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
