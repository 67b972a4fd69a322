"""The lines a gate loop logs for what fails across frames: each by its start, a count, its end.

The loop meets such a failure at every frame (15-30 a second), so each kind is a FailureLog
(gate/failure_log.py): an unavailable gallery, a failing detector, a failing embedder (their first line
with the cause's traceback) and frames too old to decide on (a loop that has fallen behind its camera).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gate.failure_log import FailureLog, FailureTexts

_GALLERY_UNAVAILABLE = FailureTexts(
    first="%(where)s: gallery unavailable (%(cause)s); every face is denied until it is available again",
    still="%(where)s: gallery still unavailable: %(count)d frames with a face in the last %(span_s).0f s; "
    "door stays shut",
    ended="%(where)s: gallery available again after %(span_s).1f s "
    "(%(count)d frames with a face were denied)",
)
_DETECTION_FAILED = FailureTexts(
    first="%(where)s: detection failed on %(at)s (%(cause)s); frames are skipped until it works again",
    still="%(where)s: detection still failing: %(count)d frames skipped in the last %(span_s).0f s; "
    "door stays shut",
    ended="%(where)s: detection works again after %(span_s).1f s (%(count)d frames were skipped)",
)
_STALE_FRAMES = FailureTexts(
    first="%(where)s: %(at)s is %(cause)s; frames are not decided on until the loop keeps up",
    still="%(where)s: still behind: %(count)d frames too old in the last %(span_s).0f s; door stays shut",
    ended="%(where)s: frames fresh again after %(span_s).1f s (%(count)d frames were not decided on)",
    level=logging.WARNING,  # not a fault: the loop is slower than its camera
)
_RECOGNITION_FAILED = FailureTexts(
    first="%(where)s: recognition failed on %(at)s (%(cause)s); faces get no vote until it works again",
    still="%(where)s: recognition still failing: %(count)d faces without a vote in the last %(span_s).0f s; "
    "door stays shut",
    ended="%(where)s: recognition works again after %(span_s).1f s (%(count)d faces got no vote)",
)


def loop_failure_logs(
    log: logging.Logger, *, where: str, interval_s: float, monotonic: Callable[[], float]
) -> tuple[FailureLog, FailureLog, FailureLog, FailureLog]:
    """The loop's logs of an unavailable gallery, failing detection, failing recognition and stale frames.

    Args:
        log: the worker's logger (the lines keep its name).
        where: the door and source every line names.
        interval_s: seconds between two count lines (decision.error_audit_interval_s).
        monotonic: the loop's monotonic clock.
    """

    def log_of(texts: FailureTexts) -> FailureLog:
        return FailureLog(log, texts, where=where, interval_s=interval_s, monotonic=monotonic)

    return (
        log_of(_GALLERY_UNAVAILABLE),
        log_of(_DETECTION_FAILED),
        log_of(_RECOGNITION_FAILED),
        log_of(_STALE_FRAMES),
    )
