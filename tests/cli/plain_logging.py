"""The root logger as a `facegate` process starts with it: no handlers, level WARNING."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def root_logger_of_a_plain_process() -> Iterator[None]:
    """Take pytest's handlers off the root logger for the block, and put them back.

    With them on it, Python's last-resort handler (a bare message on stderr, the way a command with no
    logging of its own reported a warning) never writes; without them a test sees what a user sees. Used
    inside a test's body: pytest adds its handlers for each phase, so a fixture could not keep them off.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    for handler in handlers:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
