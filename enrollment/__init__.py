"""Enrollment: photos → quality checks → embeddings → encrypted storage; also 1:N identification."""

from enrollment.errors import EnrollmentError, EnrollmentRejected, PhotoProblem
from enrollment.service import FaceIdentity, Photo, enroll, identify
from enrollment.settings import EnrollmentSettings

__all__ = [
    "EnrollmentError",
    "EnrollmentRejected",
    "EnrollmentSettings",
    "FaceIdentity",
    "Photo",
    "PhotoProblem",
    "enroll",
    "identify",
]
