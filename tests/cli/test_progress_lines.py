"""Off a terminal, a long CLI job prints plain progress lines with rate and time left while it runs (H5).

Rich draws its bars live only on a terminal; where stderr was a pipe (CI logs, systemd's journal) each bar
was drawn once, as it ended: `facegate eval lfw` embedding thousands of photos, or `facegate enroll`
loading a large gallery, showed nothing until it was over, then one full bar.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from api.cli.progress import LINES_PER_TASK, progress_bars
from tests.data import lfw

ROOT = Path(__file__).parents[2]


class _Clock:
    """A monotonic clock that the test moves."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def _plain_console() -> tuple[Console, io.StringIO]:
    written = io.StringIO()
    return Console(file=written, soft_wrap=True, markup=False), written


def test_a_task_prints_a_line_every_twentieth_with_rate_and_time_left() -> None:
    console, written = _plain_console()
    clock = _Clock()
    with progress_bars(console=console, clock=clock) as bars:
        task = bars.add_task("embedding", total=40)
        for _ in range(40):
            clock.now_s += 0.5
            bars.advance(task)
        bars.update(task, completed=40)  # told the end again: no second line

    lines = written.getvalue().splitlines()
    assert len(lines) == LINES_PER_TASK, lines
    assert lines[0] == "embedding: 2/40 (5%), 2.0/s, 0:00:19 left"
    assert lines[9] == "embedding: 20/40 (50%), 2.0/s, 0:00:10 left"
    assert lines[-1] == "embedding: 40/40 (100%), 2.0/s, took 0:00:20"


def test_a_stage_set_back_to_zero_counts_its_rate_from_there_and_an_early_end_says_where() -> None:
    console, written = _plain_console()
    clock = _Clock()
    with progress_bars(console=console, clock=clock) as bars:
        task = bars.add_task("gallery: searching look-alikes", total=1000)
        clock.now_s += 60  # the index build before the stage's real start, which reports 0
        bars.update(task, completed=0, total=1000)
        clock.now_s += 2
        bars.update(task, completed=400, total=1000)  # reported per batch: one line, not eight
        clock.now_s += 1
        bars.update(task, completed=450)
        clock.now_s += 1
        bars.update(task, completed=470)  # then the job stops (an error): its last count is said

    assert written.getvalue().splitlines() == [
        "gallery: searching look-alikes: 400/1000 (40%), 200/s, 0:00:03 left",
        "gallery: searching look-alikes: 450/1000 (45%), 150/s, 0:00:04 left",
        "gallery: searching look-alikes: 470/1000 (47%), 118/s, 0:00:05 left",
    ]


@pytest.mark.model
@pytest.mark.slow  # a fresh interpreter imports the CLI and embeds 40 LFW photos
def test_eval_with_stderr_on_a_pipe_prints_its_progress_as_it_goes() -> None:
    environment = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    command = ["eval", "lfw", "--data", str(lfw() / "lfw-deepfunneled"), "--limit-pairs", "20"]
    done = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *command],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("embedding")]
    pattern = r"embedding: (\d+)/(\d+) \(\d+%\), [\d.]+/s, \d+:\d\d:\d\d left"
    counted = [re.fullmatch(pattern, line) for line in lines[:-1]]
    assert all(counted) and 10 <= len(lines) <= LINES_PER_TASK, done.stderr
    counts = [int(match[1]) for match in counted if match]
    (total,) = {int(match[2]) for match in counted if match}
    assert counts == sorted(counts) and counts[-1] < total, lines
    assert re.fullmatch(rf"embedding: {total}/{total} \(100%\), [\d.]+/s, took \d+:\d\d:\d\d", lines[-1])
