"""Enrollment: photos → quality checks → embeddings → encrypted storage; also 1:N identification."""

from enrollment.errors import EnrollmentError, EnrollmentRejected, PhotoProblem, ThresholdUnavailable
from enrollment.gallery import GalleryService
from enrollment.quality import quality_problems
from enrollment.service import EnrollmentResult, FaceIdentity, Photo, enroll, enroll_new_person, identify
from enrollment.settings import EnrollmentSettings
from enrollment.similarity import ConfusablePair, PossibleDuplicate, confusable_pairs

__all__ = [
    "ConfusablePair",
    "EnrollmentError",
    "EnrollmentRejected",
    "ThresholdUnavailable",
    "EnrollmentResult",
    "EnrollmentSettings",
    "FaceIdentity",
    "GalleryService",
    "Photo",
    "PhotoProblem",
    "PossibleDuplicate",
    "confusable_pairs",
    "enroll",
    "enroll_new_person",
    "identify",
    "quality_problems",
]
