"""Possible duplicates at enrollment and confusable pairs, on real photos, SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from enrollment import (
    EnrollmentRejected,
    EnrollmentSettings,
    GalleryService,
    Photo,
    confusable_pairs,
    enroll,
    enroll_new_person,
    identify,
)
from recognition import Recognizer
from storage import (
    Engine,
    create_person,
    delete_person,
    gallery_version,
    get_person,
    list_people,
    session_scope,
    to_public,
)
from tests.data import encode_jpeg
from tests.storage.audit_helpers import audited_by


def _flipped(recognizer: Recognizer, data: bytes) -> bytes:
    return encode_jpeg(np.ascontiguousarray(recognizer.decode(data)[:, ::-1]))


def _new_person(engine: Engine, name: str) -> int:
    with session_scope(engine) as session:
        person = create_person(session, name=name)
        assert person.id is not None
        return person.id


def _enroll(
    engine,
    keyring,
    recognizer,
    person_id: int,
    photo: Photo,
    settings: EnrollmentSettings,
    gallery: GalleryService | None = None,
):
    with session_scope(engine) as session:
        return enroll(
            session,
            keyring,
            recognizer,
            person_id=person_id,
            photos=[photo],
            settings=settings,
            gallery=gallery,
        )


@pytest.mark.parametrize("is_shared", [False, True], ids=["loaded-per-call", "shared-service"])
def test_same_face_as_a_new_person_is_flagged_but_stored(
    engine, keyring, recognizer, group_faces, is_shared: bool
) -> None:
    settings = EnrollmentSettings()
    shared = GalleryService(keyring, recognizer) if is_shared else None

    def enroll_one(person_id: int, photo: Photo):
        return _enroll(engine, keyring, recognizer, person_id, photo, settings, shared)

    alice = _new_person(engine, "Alice")
    enroll_one(alice, Photo("alice.jpg", group_faces[0]))
    more = enroll_one(alice, Photo("more.jpg", group_faces[0]))
    assert more.possible_duplicates == [], "a person's own templates are no duplicates"
    carol = _new_person(engine, "Carol")
    stranger = enroll_one(carol, Photo("c.jpg", group_faces[2]))
    assert stranger.possible_duplicates == []

    again = _new_person(engine, "Alice again")
    mirror = Photo("mirror.jpg", _flipped(recognizer, group_faces[0]))
    result = enroll_one(again, mirror)

    [duplicate] = result.possible_duplicates
    assert (duplicate.photo, duplicate.person_id) == ("mirror.jpg", alice)
    assert recognizer.cos_threshold <= duplicate.score <= 1.0
    assert len(result.template_ids) == 1
    with session_scope(engine) as session:
        assert to_public(session, get_person(session, again)).template_count == 1


def test_duplicates_can_be_refused_and_then_nothing_is_written(
    engine, keyring, recognizer, group_faces
) -> None:
    settings = EnrollmentSettings(allow_duplicates=False)
    alice = _new_person(engine, "Alice")
    _enroll(engine, keyring, recognizer, alice, Photo("alice.jpg", group_faces[0]), settings)
    bob = _new_person(engine, "Bob")
    with session_scope(engine) as session:
        version = gallery_version(session)

    photos = [Photo("bob.jpg", group_faces[2]), Photo("mirror.jpg", _flipped(recognizer, group_faces[0]))]
    with pytest.raises(EnrollmentRejected) as caught, session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=bob, photos=photos, settings=settings)

    [problem] = caught.value.problems
    assert problem.photo == "mirror.jpg"
    assert problem.reason.startswith(f"possible duplicate: matches person {alice} (score 0.")
    assert f"threshold {recognizer.cos_threshold:.3f})" in problem.reason
    with session_scope(engine) as session:
        assert to_public(session, get_person(session, bob)).template_count == 0
        assert gallery_version(session) == version


def test_a_refused_duplicate_is_logged_by_the_people_it_matches_never_by_a_rolled_back_id(
    engine, keyring, recognizer, group_faces, caplog: pytest.LogCaptureFixture
) -> None:
    settings = EnrollmentSettings(allow_duplicates=False)
    alice = _new_person(engine, "Alice")
    _enroll(engine, keyring, recognizer, alice, Photo("alice.jpg", group_faces[0]), settings)
    bob = _new_person(engine, "Bob")
    mirror = [Photo("mirror.jpg", _flipped(recognizer, group_faces[0]))]
    caplog.set_level(logging.DEBUG, logger="enrollment")
    caplog.clear()

    with pytest.raises(EnrollmentRejected), session_scope(engine) as session:
        enroll_new_person(session, keyring, recognizer, name="Alice again", photos=mirror, settings=settings)
    with pytest.raises(EnrollmentRejected), session_scope(engine) as session:
        enroll(session, keyring, recognizer, person_id=bob, photos=mirror, settings=settings)

    with session_scope(engine) as session:
        assert [person.id for person in list_people(session)[0]] == [alice, bob], "the new one rolled back"
    # Ids only (E5): no name, no score, nothing of a template.
    assert [record.getMessage() for record in caplog.records if record.name.startswith("enrollment")] == [
        f"enrollment of a new person refused: its photos match enrolled people [{alice}]",
        f"enrollment for person {bob} refused: its photos match other people [{alice}]",
    ]


def test_confusable_pairs_on_a_small_gallery(engine, keyring, recognizer, group_faces) -> None:
    settings = EnrollmentSettings()
    photos = {
        "Alice": group_faces[0],
        "Alice's twin": _flipped(recognizer, group_faces[0]),
        "Carol": group_faces[2],
        "Dave": group_faces[5],
    }
    ids = {name: _new_person(engine, name) for name in photos}
    vectors = {}
    for name, data in photos.items():
        _enroll(engine, keyring, recognizer, ids[name], Photo(f"{name}.jpg", data), settings)
        [observation] = recognizer.observe(recognizer.decode(data))
        vectors[ids[name]] = observation.embedding.vector

    with session_scope(engine) as session:
        near = confusable_pairs(
            session, keyring, recognizer, min_score=recognizer.cos_threshold - settings.confusable_margin_cos
        )
        every = confusable_pairs(session, keyring, recognizer, min_score=-1.0)

    assert [(p.person_a, p.person_b) for p in near] == [(ids["Alice"], ids["Alice's twin"])]
    assert near[0].score >= recognizer.cos_threshold
    expected = sorted(
        ((a, b, float(vectors[a] @ vectors[b])) for a, b in itertools.combinations(sorted(vectors), 2)),
        key=lambda pair: -pair[2],
    )
    assert [(p.person_a, p.person_b) for p in every] == [(a, b) for a, b, _ in expected]
    assert [p.score for p in every] == pytest.approx([score for _, _, score in expected], abs=1e-5)


def test_confusable_pairs_of_an_empty_gallery(engine, keyring, recognizer) -> None:
    with session_scope(engine) as session:
        assert confusable_pairs(session, keyring, recognizer, min_score=0.0) == []


def test_the_shared_gallery_follows_enrollments_and_deletions_without_a_rebuild(
    engine, keyring, recognizer, group_faces
) -> None:
    shared = GalleryService(keyring, recognizer)
    settings = EnrollmentSettings()
    alice = _new_person(engine, "Alice")
    _enroll(engine, keyring, recognizer, alice, Photo("alice.jpg", group_faces[0]), settings, shared)
    with session_scope(engine) as session:
        first = shared.current(session)
        assert len(first) == 1
    carol = _new_person(engine, "Carol")
    _enroll(engine, keyring, recognizer, carol, Photo("c.jpg", group_faces[2]), settings, shared)
    with session_scope(engine) as session:
        delete_person(session, alice, erased_by=audited_by(keyring))
    with session_scope(engine) as session:
        now = shared.current(session)
        found, _ = identify(
            session, keyring, recognizer, image_data=group_faces[2], fpir_target=None, gallery=shared
        )
    assert now is first and len(now) == 1, "changes are applied to the one gallery, not rebuilt"
    assert [face.person_id for face in found] == [carol]


def test_a_full_gallery_load_tells_its_progress_stage_by_stage(
    engine, keyring, recognizer, group_faces
) -> None:
    settings = EnrollmentSettings()
    for number in range(3):
        person_id = _new_person(engine, f"person {number}")
        _enroll(engine, keyring, recognizer, person_id, Photo(f"{number}.jpg", group_faces[number]), settings)
    told: list[tuple[str, int, int]] = []

    with session_scope(engine) as session:
        confusable_pairs(session, keyring, recognizer, min_score=-1.0, progress=lambda *at: told.append(at))
    # Below the model's threshold the stored look-alike records do not say enough: every template is searched.
    assert told == [("decrypting", 3, 3), ("searching look-alikes", 0, 3), ("searching look-alikes", 3, 3)]

    told.clear()
    with session_scope(engine) as session:
        GalleryService(keyring, recognizer, progress=lambda *at: told.append(at)).current(session)
    assert told == [("decrypting", 3, 3), ("searching look-alikes", 0, 0)]  # every record stored: no search
