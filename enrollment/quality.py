"""Quality gate for enrollment photos: each failing measure named with its value and its limit."""

from __future__ import annotations

from enrollment.settings import EnrollmentSettings
from recognition import FaceQuality


def quality_problems(quality: FaceQuality, settings: EnrollmentSettings) -> list[str]:
    """Why a face is not good enough to enroll, one reason per failing measure; empty when it is.

    The face size is checked before this, when the usable face is picked.
    """
    problems = []
    if quality.detector_score < settings.min_detector_score:
        problems.append(
            f"face detection uncertain (detector score {quality.detector_score:.2f}, "
            f"minimum {settings.min_detector_score:.2f})"
        )
    problems.extend(_exposure_problems(quality, settings))
    if quality.sharpness_laplacian_var < settings.min_sharpness_laplacian_var:
        problems.append(
            f"face too blurred (sharpness {quality.sharpness_laplacian_var:.1f}, "
            f"minimum {settings.min_sharpness_laplacian_var:g})"
        )
    if abs(quality.yaw_deg) > settings.max_abs_yaw_deg:
        problems.append(
            f"face turned too far sideways (yaw {quality.yaw_deg:+.0f}°, "
            f"limit ±{settings.max_abs_yaw_deg:g}°)"
        )
    if abs(quality.pitch_deg) > settings.max_abs_pitch_deg:
        problems.append(
            f"face tilted too far up or down (pitch {quality.pitch_deg:+.0f}°, "
            f"limit ±{settings.max_abs_pitch_deg:g}°)"
        )
    return problems


def _exposure_problems(quality: FaceQuality, settings: EnrollmentSettings) -> list[str]:
    problems = []
    if quality.mean_grey_level < settings.min_mean_grey_level:
        problems.append(
            f"poor exposure: face too dark (mean grey level {quality.mean_grey_level:.1f}, "
            f"minimum {settings.min_mean_grey_level:g})"
        )
    if quality.mean_grey_level > settings.max_mean_grey_level:
        problems.append(
            f"poor exposure: face too bright (mean grey level {quality.mean_grey_level:.1f}, "
            f"maximum {settings.max_mean_grey_level:g})"
        )
    if quality.clipped_fraction > settings.max_clipped_fraction:
        problems.append(
            f"poor exposure: {quality.clipped_fraction:.0%} of the face clipped to black or white "
            f"(maximum {settings.max_clipped_fraction:.0%})"
        )
    return problems
