"""Enrollment: photos → quality checks → embeddings → encrypted storage; also 1:N identification."""

from enrollment.errors import (
    EnrollmentError,
    EnrollmentRejected,
    GalleryLoadFailed,
    GalleryLoading,
    ThresholdUnavailable,
)
from enrollment.gallery import GalleryService
from enrollment.identify import FaceIdentity, identify
from enrollment.lookalike_backfill import LookalikeBackfill, backfill_lookalikes
from enrollment.quality import quality_problems
from enrollment.service import EnrollmentResult, Photo, distinct_names, enroll, enroll_new_person
from enrollment.settings import EnrollmentSettings
from enrollment.similarity import confusable_pairs

__all__ = [
    "EnrollmentError",
    "EnrollmentRejected",
    "GalleryLoadFailed",
    "GalleryLoading",
    "ThresholdUnavailable",
    "EnrollmentResult",
    "EnrollmentSettings",
    "FaceIdentity",
    "GalleryService",
    "LookalikeBackfill",
    "Photo",
    "backfill_lookalikes",
    "confusable_pairs",
    "distinct_names",
    "enroll",
    "enroll_new_person",
    "identify",
    "quality_problems",
]
