"""Progress bars on standard error for the CLI's long loads (H5), drawn as the CLI's other bars are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from api.cli.consoles import err_console
from recognition import LoadProgress


@contextmanager
def gallery_load_progress() -> Iterator[LoadProgress]:
    """A `LoadProgress` that draws the stored gallery's load on stderr: one bar per stage (decrypting the
    templates, then searching look-alikes when any template has no stored record), each with its count
    and time left. Standard output is untouched; on a stderr that is not a terminal rich draws each bar
    once, as it ends, as the CLI's other bars (`facegate eval`'s embedding, backfill-lookalikes)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console) as bars:
        stages: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if total == 0:
                return  # nothing to do in this stage (no template, or every look-alike record stored)
            if stage not in stages:
                stages[stage] = bars.add_task(f"gallery: {stage}", total=total)
            bars.update(stages[stage], completed=done, total=total)

        yield report
