"""Process helpers for tests that run the real gate as a subprocess."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import AnyStr


@contextmanager
def killed_on_exit(process: subprocess.Popen[AnyStr]) -> Iterator[subprocess.Popen[AnyStr]]:
    """The process; on the way out, killed and reaped if still running, so a failed test leaves no gate."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
