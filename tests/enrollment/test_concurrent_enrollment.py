"""Two enrollments at once on PostgreSQL: the later one's look-alike record names the earlier one."""

from __future__ import annotations

import threading
import time

import pytest

from enrollment import EnrollmentSettings, Photo, enroll
from gate import GalleryCache
from recognition import Recognizer
from storage import Engine, Keyring, create_person, session_scope


def test_look_alikes_enrolled_in_overlapping_transactions_are_a_pair_at_the_gate(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time through by itself")
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
