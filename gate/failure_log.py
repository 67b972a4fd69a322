"""Logs a failure that persists across frames or polls by its start, a count per interval, and its end.

A gate repeats what fails at 15-30 frames a second (or every poll), so a line per failure would fill
the log: the first failure is logged with its cause (and traceback), then one line per `interval_s`
counts the failures since the last line, and one line says when it ended. With `settle_s`, it ends only
once it has worked for that long: a source that comes back and fails again within it (a flapping
camera) continues the same failure, counted in the next count line, not two lines per flap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FailureTexts:
    """The three lines of one kind of failure, %-style over a mapping (E5).

    Every line gets `where`; `first` also gets `cause` ("Type: message", or the text given for a failure
    that raised nothing) and `at` (the first failure's frame, track or check); `still` gets `count` and
    `span_s` (failures since the last line, and the seconds since it) and `latest` (the latest failure's
    cause); `ended` gets `count` and `span_s` (every failure of the episode, and its length).
    """

    first: str
    still: str
    ended: str
    level: int = logging.ERROR
    """The first line's level (unless `failed` names another) and a changed cause's; the end is WARNING."""
    still_level: int = logging.WARNING
    """The count lines' level: ERROR where a failure that lasts is a fault though its first one may not be."""


class FailureLog:
    """One kind of failure at one place: logs its start, a count every `interval_s`, and its end.

    A failure of another type than the one last named is named in the next count line (with its
    traceback, when `is_traced`; as its `latest` where the texts name that), so a second cause is seen
    within one interval, never once per frame.
    The end is logged at the first `recovered()` (`settle_s` 0) or at the first that comes `settle_s`
    after the one that began an unbroken run of successes; the end line's span runs to that run's start.
    """

    def __init__(
        self,
        log: logging.Logger,
        texts: FailureTexts,
        *,
        interval_s: float,
        where: str = "",
        monotonic: Callable[[], float],
        is_traced: bool = True,
        settle_s: float = 0.0,
    ) -> None:
        self._log, self._texts, self._where = log, texts, where
        self._interval_s, self._monotonic, self._is_traced = interval_s, monotonic, is_traced
        self._settle_s = settle_s
        self._back_at_s: float | None = None  # the first success since the last failure, while failing
        self._returns_since_line = 0  # times it worked again, then failed within settle_s
        self._since_s: float | None = None  # when the failure began; None while it is not failing
        self._line_at_s = 0.0
        self._count = 0  # failures since it began
        self._count_since_line = 0
        self._named: type[BaseException | str] | None = None  # the cause's type the last line named
        self._latest: BaseException | str | None = None

    @property
    def is_failing(self) -> bool:
        """Whether a failure began and has not ended yet (no `recovered()` since)."""
        return self._since_s is not None

    def failed(self, error: BaseException | str, *, at: str = "", level: int | None = None) -> None:
        """One more failure: the first is logged with its cause, later ones as a count per interval.

        `error` is the exception, or a text for a failure that raised none (a frame too old). `level`, when
        given, is the first line's instead of the texts' (a cause that is a fault from its start).
        """
        now_s = self._monotonic()
        if self._since_s is None:
            self._since_s = self._line_at_s = now_s
            self._count, self._count_since_line, self._named = 1, 0, type(error)
            fields = {"where": self._where, "cause": _cause(error), "at": at}
            first_level = self._texts.level if level is None else level
            self._log.log(first_level, self._texts.first, fields, exc_info=self._trace(error))
            return
        self._count += 1
        self._count_since_line += 1
        self._latest = error
        if self._back_at_s is not None:  # it came back for less than settle_s: the same failure goes on
            self._back_at_s = None
            self._returns_since_line += 1
        if now_s - self._line_at_s >= self._interval_s:
            self._still(now_s)

    def _still(self, now_s: float) -> None:
        fields = {"where": self._where, "count": self._count_since_line, "span_s": now_s - self._line_at_s}
        still = self._texts.still
        if self._returns_since_line:
            still += "; it worked again %(returns)d times, each for less than %(settle_s).0f s"
            fields |= {"returns": self._returns_since_line, "settle_s": self._settle_s}
        latest = self._latest
        fields["latest"] = "" if latest is None else _cause(latest)
        if latest is None or type(latest) is self._named:
            self._log.log(self._texts.still_level, still, fields)
        else:
            self._named = type(latest)
            message = still if "%(latest)s" in still else f"{still}; now failing with %(cause)s"  # named once
            self._log.log(
                self._texts.level, message, fields | {"cause": _cause(latest)}, exc_info=self._trace(latest)
            )
        self._line_at_s, self._count_since_line, self._returns_since_line = now_s, 0, 0

    def _trace(self, error: BaseException | str) -> BaseException | None:
        return error if self._is_traced and isinstance(error, BaseException) else None

    def recovered(self) -> None:
        """It worked again: logs the end of the failure, if there was one and it has worked for `settle_s`
        (reads no clock otherwise)."""
        if self._since_s is None:
            return
        now_s = self._monotonic()
        if self._back_at_s is None:
            self._back_at_s = now_s
        if now_s - self._back_at_s < self._settle_s:
            return
        span_s = self._back_at_s - self._since_s
        self._log.warning(self._texts.ended, {"where": self._where, "count": self._count, "span_s": span_s})
        self._since_s, self._latest, self._back_at_s, self._returns_since_line = None, None, None, 0


def _cause(error: BaseException | str) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"
