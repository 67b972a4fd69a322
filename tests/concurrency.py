"""Concurrency test helpers: a transaction run in its own thread, and a signal when it sends a statement."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event

from storage import Engine


class Worker:
    """Runs `work` in its own thread, keeping what it raises; `reached`: see `signal_on` (set at its end)."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.errors: list[BaseException] = []
        self.reached = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(work,))

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test's thread
            self.errors.append(exc)
        finally:
            self.reached.set()


@contextmanager
def signal_on(engine: Engine, worker: Worker, fragment: str, *, is_after: bool) -> Iterator[None]:
    """Set `worker.reached` when the worker's thread sends (or, `is_after`, has run) a statement
    containing `fragment`."""
    name = "after_cursor_execute" if is_after else "before_cursor_execute"

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if threading.get_ident() == worker.thread.ident and fragment in statement:
            worker.reached.set()

    event.listen(engine, name, note)
    try:
        yield
    finally:
        event.remove(engine, name, note)
