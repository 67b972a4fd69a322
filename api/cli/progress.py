"""Progress of the CLI's long jobs on standard error (H5): a bar in a terminal, otherwise plain lines.

Rich draws a bar live only on a terminal; on a stderr that is a pipe or a file (CI logs, systemd's journal,
`2> log`) it drew each bar once, as it ended, so a job of minutes (`facegate eval lfw`'s embedding, a
gallery of a million templates loaded by `facegate enroll`) said nothing until it was over. There each
task now prints a line every twentieth of its total (and its last step) with its count, rate and time left,
as the gate's own load logs (recognition's `_Progress`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from api.cli.consoles import err_console
from recognition import LoadProgress

__all__ = ["LINES_PER_TASK", "Bars", "PlainProgress", "gallery_load_progress", "progress_bars"]

LINES_PER_TASK = 20
"""Off a terminal, a task with a known total prints a line each time another 1/20 of it is done."""


class Bars(Protocol):
    """What the commands use of rich's Progress; `PlainProgress` has the same."""

    def add_task(self, description: str, *, total: float | None = None) -> TaskID: ...

    def update(
        self, task_id: TaskID, *, completed: float | None = None, total: float | None = None
    ) -> None: ...

    def advance(self, task_id: TaskID, advance: float = 1) -> None: ...


@dataclass
class _Task:
    description: str
    total: int | None
    started_s: float
    done: int = 0
    said: int = 0
    """`done` at the last line printed."""
    next_line_at: int = 0


class PlainProgress:
    """Bars as plain lines on `console`: `DESCRIPTION: DONE/TOTAL (P%), RATE/s, H:MM:SS left`, one each time
    another 1/LINES_PER_TASK of the total is done, and `..., took H:MM:SS` at the last step; while the total
    is unknown, `DESCRIPTION: DONE, RATE/s, H:MM:SS so far` each time the count doubles. The rate is the
    mean since the task began (or since its count was set back to 0). `clock`: monotonic, in seconds."""

    def __init__(self, console: Console, *, clock: Callable[[], float]) -> None:
        self._console = console
        self._clock = clock
        self._tasks: dict[TaskID, _Task] = {}

    def add_task(self, description: str, *, total: float | None = None) -> TaskID:
        task_id = TaskID(len(self._tasks))
        self._tasks[task_id] = _Task(description, _count(total), self._clock())
        self._tasks[task_id].next_line_at = self._step(self._tasks[task_id])
        return task_id

    def update(self, task_id: TaskID, *, completed: float | None = None, total: float | None = None) -> None:
        task = self._tasks[task_id]
        if total is not None and _count(total) != task.total:
            task.total = _count(total)
            task.next_line_at = task.done + self._step(task)
        if completed is None:
            return
        if completed == 0:  # a (re)start: the rate is counted from here (a gallery stage after its index)
            task.started_s, task.done, task.said = self._clock(), 0, 0
            task.next_line_at = self._step(task)
            return
        task.done = int(completed)
        if task.done != task.said and (task.done >= task.next_line_at or task.done == task.total):
            self._say(task)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        task = self._tasks[task_id]
        self.update(task_id, completed=task.done + advance)

    def finish(self) -> None:
        """A last line for each task whose count moved since its last one (a job that stopped early)."""
        for task in self._tasks.values():
            if task.done != task.said:
                self._say(task)

    def _step(self, task: _Task) -> int:
        if task.total is None:
            return max(1, task.done)
        return max(1, math.ceil(task.total / LINES_PER_TASK))

    def _say(self, task: _Task) -> None:
        elapsed_s = max(self._clock() - task.started_s, 1e-9)
        rate = task.done / elapsed_s
        count = f"{task.done}" if task.total is None else f"{task.done}/{task.total}"
        if task.total:
            count += f" ({100 * task.done // task.total}%)"
        if task.total is not None and task.done >= task.total:
            when = f"took {_clock_text(elapsed_s)}"
        elif task.total is None or rate <= 0:
            when = f"{_clock_text(elapsed_s)} so far"
        else:
            when = f"{_clock_text((task.total - task.done) / rate)} left"
        self._console.print(f"{task.description}: {count}, {_rate_text(rate)}/s, {when}", highlight=False)
        task.said = task.done
        task.next_line_at = task.done + self._step(task)


def _count(total: float | None) -> int | None:
    return None if total is None else int(total)


def _clock_text(seconds: float) -> str:
    """H:MM:SS, as rich's TimeRemainingColumn shows it."""
    return str(timedelta(seconds=round(seconds)))


def _rate_text(rate: float) -> str:
    return f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"


def _is_live(console: Console) -> bool:
    """Where rich draws a bar live (rich.live.Live.refresh): a terminal that is not a dumb one."""
    return console.is_terminal and not console.is_dumb_terminal


@contextmanager
def progress_bars(
    *, console: Console = err_console, clock: Callable[[], float] = time.monotonic
) -> Iterator[Bars]:
    """Progress on `console` (stderr): rich's bars, each with its description, count and time left, on a
    terminal; otherwise `PlainProgress`'s lines, which a log shows while the job runs."""
    if _is_live(console):
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as bars:
            yield bars
        return
    plain = PlainProgress(console, clock=clock)
    try:
        yield plain
    finally:
        plain.finish()


@contextmanager
def gallery_load_progress() -> Iterator[LoadProgress]:
    """A `LoadProgress` that shows the stored gallery's load on stderr: one bar per stage (decrypting the
    templates, then searching look-alikes when any template has no stored record), each with its count
    and time left, or their plain lines where stderr is not a terminal (`progress_bars`). Standard output
    is untouched."""
    with progress_bars() as bars:
        stages: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if total == 0:
                return  # nothing to do in this stage (no template, or every look-alike record stored)
            if stage not in stages:
                stages[stage] = bars.add_task(f"gallery: {stage}", total=total)
            bars.update(stages[stage], completed=done, total=total)

        yield report
