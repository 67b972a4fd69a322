"""Enrolling and deleting the same person at once on PostgreSQL: no deadlock, nothing half-written."""

from __future__ import annotations

import threading
from typing import Literal

from sqlalchemy import text

from enrollment import EnrollmentSettings, Photo, enroll
from recognition import Recognizer
from storage import Engine, Keyring, NotFound, delete_person, session_scope
from tests.concurrency import Worker, signal_on
from tests.storage.audit_helpers import audited_by

ROUNDS = 12
_Start = Literal["at once", "after the version lock"]


def _rows_left(engine: Engine, person_id: int) -> tuple[int, int, int]:
    """(person, data key, template) rows left for `person_id`."""
    with engine.connect() as connection:
        return tuple(
            int(
                connection.execute(
                    text(f"SELECT count(*) FROM {table} WHERE {key} = :id"), {"id": person_id}
                ).scalar_one()
            )
            for table, key in (("person", "id"), ("person_key", "person_id"), ("face_template", "person_id"))
        )


def _race(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    *,
    person_id: int,
    photo: bytes,
    start: _Start,
) -> tuple[list[BaseException], list[BaseException]]:
    """Enroll one more photo of the person in a thread while this one deletes them; (enroll's, delete's
    errors). The delete starts as the enrollment starts, or once it holds the gallery version row."""
    both_ready = threading.Barrier(2, timeout=30.0)

    def enroll_more() -> None:
        both_ready.wait()
        with session_scope(engine) as session:
            photos = [Photo("more.jpg", photo)]
            settings = EnrollmentSettings()
            enroll(session, keyring, recognizer, person_id=person_id, photos=photos, settings=settings)

    enrolling = Worker(enroll_more)
    delete_errors: list[BaseException] = []
    # The version row's lock, not the enrollment's first read of the version (its gallery's, before it):
    # the row FOR UPDATE, or on SQLite the write lock its no-op UPDATE takes first.
    lock = "FOR UPDATE" if engine.dialect.name == "postgresql" else "UPDATE gallery_version"
    with signal_on(engine, enrolling, lock, is_after=True):
        enrolling.thread.start()
        both_ready.wait()
        if start == "after the version lock":
            assert enrolling.reached.wait(timeout=30.0)
        try:
            with session_scope(engine) as session:
                delete_person(session, person_id, erased_by=audited_by(keyring))
        except BaseException as exc:  # reported with the enrollment's
            delete_errors.append(exc)
        enrolling.thread.join()
    return enrolling.errors, delete_errors


def test_enrolling_and_deleting_one_person_at_once_never_deadlocks_or_half_writes(
    engine: Engine, keyring: Keyring, recognizer: Recognizer, enroll_person, group_faces
) -> None:
    wrong = []
    for round_index in range(ROUNDS):
        start: _Start = "at once" if round_index % 2 else "after the version lock"
        person_id = enroll_person(f"Revoked {round_index}", group_faces[0])
        enroll_errors, delete_errors = _race(
            engine, keyring, recognizer, person_id=person_id, photo=group_faces[1], start=start
        )
        is_clean = delete_errors == [] and all(isinstance(e, NotFound) for e in enroll_errors)
        is_clean &= start == "at once" or enroll_errors == []  # the delete waited for it
        rows_left = _rows_left(engine, person_id)
        if not is_clean or rows_left != (0, 0, 0):
            errors = "; ".join(
                f"{type(e).__name__}: {str(e).splitlines()[0]}" for e in enroll_errors + delete_errors
            )
            wrong.append(f"round {round_index} ({start}): {errors or 'no error'}; rows left {rows_left}")
    # Each round: the delete succeeds; the enrollment succeeds before it or finds no one after it
    # (NotFound), and succeeds whenever it held the gallery version row first.
    assert wrong == [], "\n".join(wrong)
