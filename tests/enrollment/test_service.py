"""enroll() and identify() with the real detector and embedder, real AES-GCM, SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from enrollment import EnrollmentRejected, EnrollmentSettings, Photo, enroll, identify
from recognition import PresentationAttackDetector, Recognizer
from storage import (
    Engine,
    Keyring,
    NotFound,
    create_person,
    gallery_version,
    get_person,
    session_scope,
    to_public,
)
from tests.data import encode_jpeg, minifasnet_dir, no_face_photos

SETTINGS = EnrollmentSettings()


def _new_person(engine: Engine, name: str = "Ada Example") -> int:
    with session_scope(engine) as session:
        person = create_person(session, name=name)
        assert person.id is not None
        return person.id


def _template_count(engine: Engine, person_id: int) -> int:
    with session_scope(engine) as session:
        return to_public(session, get_person(session, person_id)).template_count


def _version(engine: Engine) -> int:
    with session_scope(engine) as session:
        return gallery_version(session)


def _flipped(recognizer: Recognizer, data: bytes) -> bytes:
    return encode_jpeg(np.ascontiguousarray(recognizer.decode(data)[:, ::-1]))


def _rescaled(recognizer: Recognizer, data: bytes, factor: float) -> bytes:
    image = recognizer.decode(data)
    return encode_jpeg(cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR))


def test_enroll_two_photos_then_identify(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces
):
    person_id = _new_person(engine)
    version_before = _version(engine)
    photos = [Photo("front.jpg", group_faces[0]), Photo("mirrored.jpg", _flipped(recognizer, group_faces[0]))]

    with session_scope(engine) as session:
        result = enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=SETTINGS)

    template_ids = result.template_ids
    assert result.possible_duplicates == [], "two photos of one person are not duplicates of each other"
    assert len(template_ids) == 2 and len(set(template_ids)) == 2
    assert _template_count(engine, person_id) == 2
    assert _version(engine) == version_before + 1

    with session_scope(engine) as session:
        found = identify(
            session,
            keyring,
            recognizer,
            image_data=_rescaled(recognizer, group_faces[0], 1.5),
            fpir_target=None,
        )[0]
    assert len(found) == 1
    assert found[0].person_id == person_id
    assert found[0].candidates[0].person_id == person_id
    assert found[0].candidates[0].score >= found[0].threshold == recognizer.cos_threshold

    with session_scope(engine) as session:
        stranger = identify(session, keyring, recognizer, image_data=group_faces[4], fpir_target=None)[0]
    assert len(stranger) == 1
    assert stranger[0].person_id is None
    assert stranger[0].candidates, "the enrolled person is still listed as a (rejected) candidate"
    assert all(candidate.score < stranger[0].threshold for candidate in stranger[0].candidates)


def _truncated(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    return faces[1][: len(faces[1]) // 2]


def _empty(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    return b""


def _not_an_image(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    return os.urandom(2048)


def _no_face(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    return no_face_photos()[0].read_bytes()


def _two_faces(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    left, right = recognizer.decode(faces[1]), recognizer.decode(faces[2])
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height, left.shape[1] + right.shape[1], 3), 128, dtype=np.uint8)
    canvas[: left.shape[0], : left.shape[1]] = left
    canvas[: right.shape[0], left.shape[1] :] = right
    return encode_jpeg(canvas)


def _face_too_small(recognizer: Recognizer, faces: list[bytes]) -> bytes:
    # The crops hold a ~100 px face; at 0.4 it is ~50 px, still detected but below min_face_px (60).
    return _rescaled(recognizer, faces[1], 0.4)


BAD_PHOTOS: list[tuple[Callable[[Recognizer, list[bytes]], bytes], tuple[str, ...]]] = [
    (_truncated, ("unreadable", "truncated")),
    (_empty, ("unreadable", "empty")),
    (_not_an_image, ("unreadable", "not a recognised image")),
    (_no_face, ("no face",)),
    (_two_faces, ("several faces (2)",)),
    (_face_too_small, ("too small", f"minimum {SETTINGS.min_face_px} px")),
]


@pytest.mark.parametrize(
    ("make_bad", "expected_words"), BAD_PHOTOS, ids=[f.__name__[1:] for f, _ in BAD_PHOTOS]
)
def test_one_bad_photo_rejects_the_whole_batch(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces, make_bad, expected_words
):
    person_id = _new_person(engine)
    version_before = _version(engine)
    photos = [Photo("good.jpg", group_faces[0]), Photo("bad.jpg", make_bad(recognizer, group_faces))]

    with pytest.raises(EnrollmentRejected) as caught, session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=SETTINGS)

    assert [problem.photo for problem in caught.value.problems] == ["bad.jpg"]
    reason = caught.value.problems[0].reason
    for word in expected_words:
        assert word in reason
    assert "bad.jpg" in str(caught.value)
    assert _template_count(engine, person_id) == 0
    assert _version(engine) == version_before


def test_every_bad_photo_is_reported(engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces):
    person_id = _new_person(engine)
    photos = [
        Photo("empty.jpg", b""),
        Photo("good.jpg", group_faces[0]),
        Photo("group.jpg", _two_faces(recognizer, group_faces)),
    ]
    with pytest.raises(EnrollmentRejected) as caught, session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=SETTINGS)
    assert [problem.photo for problem in caught.value.problems] == ["empty.jpg", "group.jpg"]
    assert _template_count(engine, person_id) == 0


def test_unknown_person_is_not_found(engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces):
    with pytest.raises(NotFound), session_scope(engine) as session:
        enroll(
            session,
            keyring,
            recognizer,
            person_id=4242,
            photos=[Photo("a.jpg", group_faces[0])],
            settings=SETTINGS,
        )
    assert _version(engine) == 0


def test_unknown_person_is_not_found_before_the_problems_of_the_photos(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """The photos are checked first (the person is read after the models), yet the person is said first."""
    with pytest.raises(NotFound, match="person 4242 does not exist"), session_scope(engine) as session:
        photos = [Photo("empty.jpg", no_face_photos()[0].read_bytes())]
        enroll(session, keyring, recognizer, person_id=4242, photos=photos, settings=SETTINGS)


def test_zero_photos_rejected(engine: Engine, keyring: Keyring, recognizer: Recognizer):
    person_id = _new_person(engine)
    with pytest.raises(EnrollmentRejected, match="no photos"), session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=person_id, photos=[], settings=SETTINGS)
    assert _template_count(engine, person_id) == 0


def test_too_many_photos_rejected(engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces):
    person_id = _new_person(engine)
    settings = EnrollmentSettings(max_photos=2)
    photos = [Photo(f"{index}.jpg", group_faces[0]) for index in range(3)]
    with (
        pytest.raises(EnrollmentRejected, match="3 photos, the limit is 2"),
        session_scope(engine) as session,
    ):
        enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=settings)
    assert _template_count(engine, person_id) == 0
    assert _version(engine) == 0


@pytest.mark.model
def test_enrollment_refuses_a_photo_attack_with_the_reason(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, pad_detector: PresentationAttackDetector
) -> None:
    samples = minifasnet_dir() / "samples"
    settings = EnrollmentSettings(pad_policy="enforce")
    with session_scope(engine) as session:
        person_id = create_person(session, name="Live").id
        assert person_id is not None
        live = Photo(name="image_T1.jpg", data=(samples / "image_T1.jpg").read_bytes())
        result = enroll(
            session,
            keyring,
            recognizer,
            person_id=person_id,
            photos=[live],
            settings=settings,
            pad=pad_detector,
        )
        assert len(result.template_ids) == 1
        attack = Photo(name="image_F1.jpg", data=(samples / "image_F1.jpg").read_bytes())
        with pytest.raises(EnrollmentRejected) as refused:
            enroll(
                session,
                keyring,
                recognizer,
                person_id=person_id,
                photos=[attack],
                settings=settings,
                pad=pad_detector,
            )
    (problem,) = refused.value.problems
    assert problem.photo == "image_F1.jpg"
    assert (
        problem.reason.startswith("presentation attack suspected") and pad_detector.model_id in problem.reason
    )
