"""Enrollment's PAD on a headshot whose face fills the photo: the card's face-fill calibration judges it,
the card's calibration of the photo's colour (the grey one for a grey photo when it has one) every other."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from enrollment import EnrollmentRejected, EnrollmentSettings, Photo, enroll
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BpcerPoint,
    FaceFillCalibration,
    PadCalibration,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    read_pad_card,
    write_pad_card,
)
from storage import Engine, Keyring, create_person, session_scope
from tests.data import encode_jpeg, minifasnet_dir

pytestmark = pytest.mark.model
SETTINGS = EnrollmentSettings(pad_policy="enforce")


def _calibration(dataset: str, threshold: float) -> PadCalibration:
    point = BpcerPoint(bpcer=0.01, attack_threshold=threshold)
    return PadCalibration(dataset=dataset, bona_fide_count=100, points=(point,))


def _pad_with_calibrations(
    pad_model_dir: Path,
    root: Path,
    *,
    threshold: float,
    face_fill_threshold: float | None,
    is_face_fill_grey: bool = False,
    grey_threshold: float | None = None,
) -> PresentationAttackDetector:
    """The real PAD stage from a copy of the converted card carrying these calibrations (the face-fill one
    for colour photos, or grey ones with `is_face_fill_grey`; a grey main one with `grey_threshold`)."""
    card_dir = root / PAD_CARD_DIR
    shutil.copytree(pad_model_dir / PAD_CARD_DIR, card_dir)
    face_fill = (
        ()
        if face_fill_threshold is None
        else (
            FaceFillCalibration(
                is_grayscale=is_face_fill_grey, calibration=_calibration("headshots", face_fill_threshold)
            ),
        )
    )
    card = read_pad_card(card_dir / PAD_CARD_FILE).model_copy(
        update={
            "calibration": _calibration("scenes", threshold),
            "grey_calibration": None
            if grey_threshold is None
            else _calibration("grey scenes", grey_threshold),
            "face_fill_calibrations": face_fill,
        }
    )
    write_pad_card(card, card_dir / PAD_CARD_FILE)
    return build_pad_detector(RecognitionSettings(model_dir=card_dir, bundle_dirs=[]), cache_dir=root)


def _png(image: np.ndarray) -> bytes:
    """Lossless, so a grey photo stays grey to the last pixel."""
    ok, buffer = cv2.imencode(".png", image)
    assert ok
    return buffer.tobytes()


def _headshot(recognizer: Recognizer, data: bytes) -> bytes:
    """A passport-style crop of the photo's face: 15% of the face box around it, so the face fills it."""
    image = recognizer.decode(data)
    x1, y1, x2, y2 = recognizer.detect(image)[0].bbox
    margin_x, margin_y = (x2 - x1) * 15 // 100, (y2 - y1) * 15 // 100
    return encode_jpeg(image[max(0, y1 - margin_y) : y2 + margin_y, max(0, x1 - margin_x) : x2 + margin_x])


def _problems(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    photo: Photo,
    settings: EnrollmentSettings = SETTINGS,
) -> list[str]:
    """The reasons enrollment with `pad` enforced refuses `photo` for ([] when it is enrolled)."""
    with session_scope(engine) as session:
        person_id = create_person(session, name="Headshot").id
        assert person_id is not None
        try:
            enroll(
                session, keyring, recognizer, person_id=person_id, photos=[photo], settings=settings, pad=pad
            )
        except EnrollmentRejected as refused:
            return [problem.reason for problem in refused.problems]
    return []


def test_a_headshot_filling_the_photo_is_judged_by_the_face_fill_calibration(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
    tmp_path: Path,
) -> None:
    samples = minifasnet_dir() / "samples"
    headshot = Photo("headshot.jpg", _headshot(recognizer, (samples / "image_T1.jpg").read_bytes()))
    attack = Photo("image_F1.jpg", (samples / "image_F1.jpg").read_bytes())
    scored = {}
    for photo in (headshot, attack):
        image = recognizer.decode(photo.data)
        scored[photo.name] = pad_detector.score(image, recognizer.detect(image)[0])
    assert scored["headshot.jpg"].is_face_filling_frame and not scored["image_F1.jpg"].is_face_filling_frame
    # A calibration on scenes that refuses this live headshot, and the attack with background around it.
    strict = scored["headshot.jpg"].attack_score / 2
    assert scored["image_F1.jpg"].attack_score > strict

    locked_out = _pad_with_calibrations(
        pad_model_dir, tmp_path / "a", threshold=strict, face_fill_threshold=None
    )
    (reason,) = _problems(engine, keyring, recognizer, locked_out, headshot)
    assert reason.startswith("presentation attack suspected") and "on scenes" in reason

    # Headshots calibrated apart (a threshold no score exceeds): the headshot enrolls, the attack does not.
    calibrated = _pad_with_calibrations(
        pad_model_dir, tmp_path / "b", threshold=strict, face_fill_threshold=1.0
    )
    assert _problems(engine, keyring, recognizer, calibrated, headshot) == []
    (reason,) = _problems(engine, keyring, recognizer, calibrated, attack)
    assert reason.startswith("presentation attack suspected") and "on scenes" in reason
    assert "headshots" not in reason


def test_a_colour_headshot_is_never_held_to_a_face_fill_calibration_measured_on_grey_photos(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
    tmp_path: Path,
) -> None:
    """The bug: a colour close-up was held to the grey headshots' calibration, the laxest on the card."""
    samples = minifasnet_dir() / "samples"
    live = _headshot(recognizer, (samples / "image_T1.jpg").read_bytes())
    image = recognizer.decode(live)
    image_in_grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    colour, grey = Photo("colour.png", _png(image)), Photo("grey.png", _png(image_in_grey))
    scored = {
        photo.name: pad_detector.score(picture, recognizer.detect(picture)[0])
        for photo, picture in ((colour, image), (grey, image_in_grey))
    }
    assert all(s.is_face_filling_frame for s in scored.values())
    assert scored["grey.png"].is_grayscale and not scored["colour.png"].is_grayscale
    strict = min(s.attack_score for s in scored.values()) / 2  # refuses both live headshots

    grey_only = _pad_with_calibrations(
        pad_model_dir, tmp_path / "a", threshold=strict, face_fill_threshold=1.0, is_face_fill_grey=True
    )
    assert _problems(engine, keyring, recognizer, grey_only, grey) == []
    (reason,) = _problems(engine, keyring, recognizer, grey_only, colour)
    assert reason.startswith("presentation attack suspected") and "on scenes" in reason

    colour_only = _pad_with_calibrations(
        pad_model_dir, tmp_path / "b", threshold=strict, face_fill_threshold=1.0, is_face_fill_grey=False
    )
    assert _problems(engine, keyring, recognizer, colour_only, colour) == []
    (reason,) = _problems(engine, keyring, recognizer, colour_only, grey)
    assert reason.startswith("presentation attack suspected") and "on scenes" in reason


def test_a_headshot_filling_the_photo_is_refused_when_not_allowed(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, pad_detector: PresentationAttackDetector
) -> None:
    live = (minifasnet_dir() / "samples" / "image_T1.jpg").read_bytes()
    settings = EnrollmentSettings(pad_policy="enforce", allow_pad_face_filling=False)

    (reason,) = _problems(
        engine,
        keyring,
        recognizer,
        pad_detector,
        Photo("headshot.jpg", _headshot(recognizer, live)),
        settings,
    )
    assert reason.startswith("the face fills the photo")
    assert _problems(engine, keyring, recognizer, pad_detector, Photo("T1.jpg", live), settings) == []


def test_a_grey_photo_with_background_is_judged_by_the_grey_calibration_when_the_card_has_one(
    engine, keyring, recognizer, pad_model_dir, pad_detector, tmp_path
) -> None:
    live = cv2.imread(str(minifasnet_dir() / "samples" / "image_T1.jpg"))
    grey = cv2.cvtColor(cv2.cvtColor(live, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    photo = Photo("grey.png", _png(grey))
    scored = pad_detector.score(grey, recognizer.detect(grey)[0])
    assert scored.is_grayscale and not scored.is_face_filling_frame
    # A colour threshold the grey live face is above (as grey CelebA faces are above 0.8440), a grey one not.
    colour, grey_threshold = scored.attack_score / 2, (scored.attack_score + 1.0) / 2
    colour_only = _pad_with_calibrations(
        pad_model_dir, tmp_path / "colour", threshold=colour, face_fill_threshold=None
    )
    both = _pad_with_calibrations(
        pad_model_dir,
        tmp_path / "both",
        threshold=colour,
        face_fill_threshold=None,
        grey_threshold=grey_threshold,
    )

    refused = _problems(engine, keyring, recognizer, colour_only, photo)
    assert len(refused) == 1 and "BPCER 0.01 on scenes)" in refused[0]
    assert _problems(engine, keyring, recognizer, both, photo) == []
