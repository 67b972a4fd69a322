"""Errors raised by enrollment.

EnrollmentError
├── EnrollmentRejected    one or more photos are unusable (or duplicates, when refused); nothing was written
├── ThresholdUnavailable  an FPIR target is set for identification but the model has no calibration
└── GalleryLoading        the shared gallery is being loaded in full; retry shortly
    └── GalleryLoadFailed its last full load failed; the next one starts after a backoff
"""

from __future__ import annotations

from dataclasses import dataclass


class EnrollmentError(Exception):
    """Base class of every enrollment error."""


@dataclass(frozen=True)
class PhotoProblem:
    """Why one photo was refused."""

    photo: str
    reason: str


class EnrollmentRejected(EnrollmentError):
    """Every failing photo with its reason; the request wrote nothing."""

    def __init__(self, problems: list[PhotoProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{problem.photo}: {problem.reason}" for problem in problems))


class ThresholdUnavailable(EnrollmentError):
    """Identification at an FPIR target needs a calibrated model (`facegate models calibrate`)."""


class GalleryLoading(EnrollmentError):
    """The process's shared gallery is being loaded in full (as the server starts, or a reload the change
    log cannot give), by its own thread or another request: a minute for a million templates, so a
    request that needs it is answered at once instead of waiting."""


class GalleryLoadFailed(GalleryLoading):
    """The shared gallery's last full load failed (logged with its traceback) and the next one waits out
    a backoff, so a broken key or a database outage does not make every request read the whole gallery
    again."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """Seconds until the next full load starts (at least 1)."""
