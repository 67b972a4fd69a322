"""Enrollment refuses blurred, dark, turned photos naming the measure and its value; nothing is written."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from enrollment import EnrollmentRejected, EnrollmentSettings, Photo, enroll, quality_problems
from recognition import FaceQuality, Recognizer
from storage import Engine, Keyring, create_person, gallery_version, get_person, session_scope, to_public
from tests.data import encode_jpeg, shared_faces

SETTINGS = EnrollmentSettings()
GOOD = FaceQuality(
    face_px=108,
    sharpness_laplacian_var=220.0,
    yaw_deg=-6.0,
    pitch_deg=3.0,
    mean_grey_level=170.0,
    clipped_fraction=0.0,
    detector_score=0.9,
)


def _state(engine: Engine, person_id: int) -> tuple[int, int]:
    with session_scope(engine) as session:
        return to_public(session, get_person(session, person_id)).template_count, gallery_version(session)


def _refusal(engine: Engine, keyring: Keyring, recognizer: Recognizer, good: bytes, bad: bytes) -> str:
    """Enroll a good and a bad photo; check that nothing was written and return the bad one's reason."""
    with session_scope(engine) as session:
        person = create_person(session, name="Ada Example")
        assert person.id is not None
        person_id = person.id
    before = _state(engine, person_id)
    photos = [Photo("good.jpg", good), Photo("bad.jpg", bad)]
    with pytest.raises(EnrollmentRejected) as caught, session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=SETTINGS)
    assert _state(engine, person_id) == before == (0, 0)
    assert [problem.photo for problem in caught.value.problems] == ["bad.jpg"]
    return caught.value.problems[0].reason


def test_blurred_photo_is_refused_naming_sharpness(engine, keyring, recognizer, group_faces) -> None:
    blurred = cv2.GaussianBlur(recognizer.decode(group_faces[0]), (0, 0), 3.0)
    reason = _refusal(engine, keyring, recognizer, group_faces[0], encode_jpeg(blurred))
    assert "face too blurred (sharpness " in reason
    assert f"minimum {SETTINGS.min_sharpness_laplacian_var:g})" in reason


def test_dark_photo_is_refused_naming_exposure(engine, keyring, recognizer, group_faces) -> None:
    dark = (recognizer.decode(group_faces[0]) * 0.1).astype(np.uint8)
    reason = _refusal(engine, keyring, recognizer, group_faces[0], encode_jpeg(dark))
    assert "poor exposure: face too dark (mean grey level " in reason
    assert f"minimum {SETTINGS.min_mean_grey_level:g})" in reason


def test_turned_face_is_refused_naming_yaw(engine, keyring, recognizer, group_faces) -> None:
    # group_faces[4]: the man in t1.jpg looking past the camera in three-quarter profile.
    reason = _refusal(engine, keyring, recognizer, group_faces[0], group_faces[4])
    assert reason.startswith("face turned too far sideways (yaw -")
    assert f"limit ±{SETTINGS.max_abs_yaw_deg:g}°" in reason


@pytest.mark.model
@pytest.mark.parametrize("name", ["Peter_Mugyeni_0001", "Franz_Muentefering_0003"])
def test_lfw_near_profiles_are_refused_naming_yaw(engine, keyring, recognizer, group_faces, name) -> None:
    path = shared_faces() / "lfw" / "lfw-deepfunneled" / name.rsplit("_", 1)[0] / f"{name}.jpg"
    reason = _refusal(engine, keyring, recognizer, group_faces[0], path.read_bytes())
    assert "face turned too far sideways (yaw " in reason
    yaw = float(reason.split("yaw ")[1].split("°")[0])
    assert abs(yaw) > 60


def test_every_failing_measure_is_named_with_its_value_and_limit() -> None:
    bad = FaceQuality(
        face_px=108,
        sharpness_laplacian_var=12.3,
        yaw_deg=52.4,
        pitch_deg=-33.0,
        mean_grey_level=241.7,
        clipped_fraction=0.53,
        detector_score=0.62,
    )
    assert quality_problems(GOOD, SETTINGS) == []
    assert quality_problems(bad, SETTINGS) == [
        "face detection uncertain (detector score 0.62, minimum 0.80)",
        "poor exposure: face too bright (mean grey level 241.7, maximum 220)",
        "poor exposure: 53% of the face clipped to black or white (maximum 30%)",
        "face too blurred (sharpness 12.3, minimum 25)",
        "face turned too far sideways (yaw +52°, limit ±45°)",
        "face tilted too far up or down (pitch -33°, limit ±30°)",
    ]


def test_limits_come_from_the_environment_and_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_ENROLLMENT_MAX_ABS_YAW_DEG", "5")
    strict = EnrollmentSettings()
    assert strict.max_abs_yaw_deg == 5.0
    assert quality_problems(GOOD, strict) == ["face turned too far sideways (yaw -6°, limit ±5°)"]
    with pytest.raises(ValidationError, match="min_mean_grey_level must be below"):
        EnrollmentSettings(min_mean_grey_level=200, max_mean_grey_level=100)
    with pytest.raises(ValidationError):
        EnrollmentSettings(max_abs_pitch_deg=0)
