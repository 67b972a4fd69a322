"""Stopping a database job's background thread within a bound: a stop never hangs on a database that took a
statement and does not answer it (the gallery change feed's LISTEN, the API's idempotency purge)."""

from __future__ import annotations

import logging
import threading

STOP_WAIT_S = 30.0
"""How long a stop waits for the thread before leaving it (a daemon thread) to end on its own."""


def join_or_leave(
    thread: threading.Thread | None, *, what: str, log: logging.Logger, wait_s: float = STOP_WAIT_S
) -> None:
    """Wait up to `wait_s` for `thread` (None: none runs); one still running then is named as `what` in a
    warning on `log`, the job's own logger, and left."""
    if thread is None:
        return
    thread.join(timeout=wait_s)
    if thread.is_alive():
        log.warning("%s did not stop within %.0f s; left to end on its own", what, wait_s)
