"""Time budgets of a run: wall clock, and this process's CPU time (the fair one on a shared machine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class RunBudget:
    """Measures a run from `start()` and says when a wall or CPU budget is used up.

    The CPU clock (`time.process_time` in the trainer) counts every thread of this process but not
    child processes, so DataLoader workers (`num_workers > 0`) are outside a CPU budget.
    """

    max_wall_minutes: float | None
    max_cpu_minutes: float | None
    clock: Callable[[], float]
    cpu_clock: Callable[[], float]
    _started_s: float = field(default=0.0, init=False)
    _cpu_started_s: float = field(default=0.0, init=False)

    def start(self) -> None:
        """Both clocks count from now."""
        self._started_s, self._cpu_started_s = self.clock(), self.cpu_clock()

    def wall_s(self) -> float:
        """Wall seconds since `start()`."""
        return self.clock() - self._started_s

    def cpu_s(self) -> float:
        """CPU seconds this process used since `start()`."""
        return self.cpu_clock() - self._cpu_started_s

    def used_up(self) -> str:
        """Which budget is used up ("" when neither is)."""
        if self.max_wall_minutes is not None and self.wall_s() >= 60.0 * self.max_wall_minutes:
            return f"wall-time budget of {self.max_wall_minutes:g} minutes used"
        if self.max_cpu_minutes is not None and self.cpu_s() >= 60.0 * self.max_cpu_minutes:
            return f"CPU-time budget of {self.max_cpu_minutes:g} minutes used"
        return ""
