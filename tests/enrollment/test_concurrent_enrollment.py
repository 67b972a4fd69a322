"""Two enrollments at once, on PostgreSQL and SQLite: the later one's look-alike record names the earlier, and
an enrollment loading the gallery keeps no other waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from enrollment import EnrollmentResult, EnrollmentSettings, GalleryService, Photo, enroll, enroll_new_person
from gate import GalleryCache
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import (
    Engine,
    Keyring,
    Session,
    create_person,
    gallery_version,
    list_person_templates,
    session_scope,
)
from tests.concurrency import held_after


def test_look_alikes_enrolled_in_overlapping_transactions_are_a_pair_at_the_gate(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces
) -> None:
    enroll_person("Frank", group_faces[3])  # the gallery version row exists, as on any running system
    with session_scope(engine) as session:
        first, second = (create_person(session, name=name).id or 0 for name in ("Erin", "Erin again"))
    settings = EnrollmentSettings()
    failures: list[BaseException] = []

    def enroll_second() -> None:
        try:
            with session_scope(engine) as session:
                photo = Photo("again.jpg", group_faces[2])
                enroll(session, keyring, recognizer, person_id=second, photos=[photo], settings=settings)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    with session_scope(engine) as session:
        enroll(
            session,
            keyring,
            recognizer,
            person_id=first,
            photos=[Photo("e.jpg", group_faces[2])],
            settings=settings,
        )
        other = threading.Thread(target=enroll_second)
        other.start()
        time.sleep(3.0)  # the second enrollment has embedded its photo and reached the gallery meanwhile
    other.join()

    assert failures == []
    gate = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=0.0, monotonic=lambda: 0.0
    )
    assert (first, second) in gate.current().lookalikes(recognizer.cos_threshold)


def test_first_two_enrollments_on_a_fresh_database_both_succeed_and_see_each_other(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, group_faces, tmp_path: Path
) -> None:
    """No gallery version row yet: both enrollments find none; neither may fail creating it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock, taken with the version row, lets one enrollment look at a time")
    with session_scope(engine) as session:
        first, second = (create_person(session, name=name).id or 0 for name in ("Erin", "Erin again"))
    both_looked = threading.Barrier(2, timeout=30.0)
    looked: set[int] = set()

    def meet_after_first_version_lock(_conn, _cursor, statement: str, *_args: object) -> None:
        is_version_lock = "FROM gallery_version" in statement and "FOR UPDATE" in statement
        if is_version_lock and threading.get_ident() not in looked:
            looked.add(threading.get_ident())
            both_looked.wait()  # each found no row before either created it

    failures: list[BaseException] = []
    settings = RecognitionSettings(allow_model_download=False)
    own_recognizer = build_recognizer(settings, cache_dir=tmp_path)  # OpenCV's DNN is not thread-safe

    def enroll_one(person_id: int, recognizer: Recognizer) -> None:
        try:
            with session_scope(engine) as session:
                photo = Photo(f"{person_id}.jpg", group_faces[2])
                enroll(
                    session,
                    keyring,
                    recognizer,
                    person_id=person_id,
                    photos=[photo],
                    settings=EnrollmentSettings(),
                )
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    event.listen(engine, "after_cursor_execute", meet_after_first_version_lock)
    try:
        threads = [
            threading.Thread(target=enroll_one, args=pair)
            for pair in ((first, recognizer), (second, own_recognizer))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(engine, "after_cursor_execute", meet_after_first_version_lock)

    assert failures == []
    with session_scope(engine) as session:
        assert gallery_version(session) == 2
        assert [len(list_person_templates(session, p)[0]) for p in (first, second)] == [1, 1]
    gate = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=0.0, monotonic=lambda: 0.0
    )
    assert (first, second) in gate.current().lookalikes(recognizer.cos_threshold)


@pytest.mark.parametrize("entry", ["enroll", "enroll_new_person"])
def test_an_enrollment_loading_its_own_gallery_keeps_no_other_enrollment_waiting(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces, entry: str
) -> None:
    """`facegate enroll` passes no shared gallery: its enrollment loads every stored template itself. That
    load ran under the gallery version lock (SQLite: the database's write lock), so an enrollment through
    the API meanwhile waited for all of it, and failed once its lock or busy timeout ended (503). It now
    runs before the lock: an enrollment committed during it does not wait, and is seen under the lock."""
    enroll_person("Frank", group_faces[3])  # a gallery to load, and its version row
    with session_scope(engine) as session:
        existing, rival_id = (create_person(session, name=name).id or 0 for name in ("Erin", "Erin again"))
    settings = EnrollmentSettings()
    finished: list[str] = []
    results: list[EnrollmentResult] = []

    def command_enrollment(session: Session) -> None:  # the CLI's call: no shared gallery
        photos = [Photo("e.jpg", group_faces[2])]
        if entry == "enroll":
            results.append(
                enroll(session, keyring, recognizer, person_id=existing, photos=photos, settings=settings)
            )
        else:
            _, result = enroll_new_person(
                session, keyring, recognizer, name="Erin", photos=photos, settings=settings
            )
            results.append(result)
        finished.append("command")

    def api_enrollment(session: Session) -> None:  # the server's call, while the command is held in its load
        # The command is past its models' work, so the two never run the recognizer's OpenCV DNN at once.
        gallery = GalleryService(keyring, recognizer)
        photos = [Photo("again.jpg", group_faces[2])]
        enroll(
            session,
            keyring,
            recognizer,
            person_id=rival_id,
            photos=photos,
            settings=settings,
            gallery=gallery,
        )
        finished.append("api")

    command, api = held_after(
        engine,
        command_enrollment,
        fragment="ORDER BY face_template.person_id, face_template.id",  # the gallery's full load
        second=api_enrollment,
        blocked_s=30.0,  # a bound on the wait for a lock the command would hold, not a speed claim
    )

    assert command.errors == [] and api.errors == []
    assert finished == ["api", "command"]  # the API's was not kept waiting for the command's load
    (result,) = results
    assert [duplicate.person_id for duplicate in result.possible_duplicates] == [rival_id]  # and was seen
