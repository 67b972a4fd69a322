"""While an enrollment's photos go through the models, it holds no database lock (SQLite, PostgreSQL).

On SQLite a new person's row took the database's one write lock before the photos were checked, so
every other writer (a gate's audit events) waited out the detection of up to `max_photos` photos.
Adding photos to a known person read the person first, so a request queued for the API's recognizer
lock held a pooled connection (on PostgreSQL idle in transaction) all the while it waited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from enrollment import EnrollmentSettings, Photo, enroll, enroll_new_person
from recognition import Recognizer
from storage import Engine, Keyring, create_person, get_person, session_scope
from tests.data import knn_examples


@contextmanager
def _connections_counted(engine: Engine, counted: list[int]) -> Iterator[None]:
    """Entered where the models start (where a request queues for the recognizer lock): how many
    connections this process has checked out of its pool."""
    counted.append(engine.pool.checkedout())  # type: ignore[attr-defined]  # QueuePool's count
    yield


@contextmanager
def _another_writer_commits(engine: Engine, written: list[int]) -> Iterator[None]:
    """Entered where the models start: another connection creates a person and commits."""
    with session_scope(engine) as other:
        written.append(create_person(other, name="meanwhile").id or 0)
    yield


def test_a_new_persons_photos_are_checked_while_others_write(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    photos = [
        Photo(path.name, path.read_bytes()) for path in sorted((knn_examples() / "train" / "obama").iterdir())
    ]
    written: list[int] = []
    with session_scope(engine) as session:
        person_id, result = enroll_new_person(
            session,
            keyring,
            recognizer,
            name="Obama",
            photos=photos,
            settings=EnrollmentSettings(),
            model_lock=_another_writer_commits(engine, written),
        )
    assert len(result.template_ids) == len(photos) == 2
    with session_scope(engine) as session:
        assert [get_person(session, id_).name for id_ in (*written, person_id)] == ["meanwhile", "Obama"]


def test_adding_photos_holds_no_connection_while_the_models_work(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    with session_scope(engine) as session:
        person_id = create_person(session, name="Obama").id
    assert person_id is not None
    photo = knn_examples() / "train" / "obama" / "obama.jpg"
    counted: list[int] = []
    with session_scope(engine) as session:
        result = enroll(
            session,
            keyring,
            recognizer,
            person_id=person_id,
            photos=[Photo(photo.name, photo.read_bytes())],
            settings=EnrollmentSettings(),
            model_lock=_connections_counted(engine, counted),
        )
    assert counted == [0], "the enrollment held a database connection while it waited for the models"
    assert len(result.template_ids) == 1
