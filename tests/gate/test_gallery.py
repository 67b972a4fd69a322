"""GalleryCache: polls the stored gallery version on the injected clock and rebuilds on change (A2)."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import event

from gate import GalleryCache
from recognition import Recognizer
from storage import Keyring, UnknownKeyId
from tests.fakes import FakeClock

POLL_S = 2.0


@pytest.fixture
def statements(engine):
    """Every SQL statement the engine runs from now on."""
    executed: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        executed.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    yield executed
    event.remove(engine, "before_cursor_execute", count)


def _embedding(recognizer: Recognizer, data: bytes):
    (observation,) = recognizer.observe(recognizer.decode(data))
    return observation.embedding.vector


def test_reloads_when_the_version_changes_and_not_before_poll_s(
    engine, keyring, recognizer, group_faces, enroll_person, statements
):
    alice_id = enroll_person("Alice", group_faces[0])
    clock = FakeClock()
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=clock
    )

    first = cache.current()
    assert len(first) == 1
    assert first.search(_embedding(recognizer, group_faces[0]), 1)[0].person_id == alice_id

    bob_id = enroll_person("Bob", group_faces[5])  # not 4: enrollment refuses his three-quarter profile
    statements.clear()
    clock.advance(POLL_S - 0.5)
    assert cache.current() is first  # too soon to look: the database is not queried
    assert statements == []

    clock.advance(0.5)  # exactly poll_s after the first look
    reloaded = cache.current()
    assert statements, "the version is checked once poll_s has elapsed"
    assert reloaded is not first and len(reloaded) == 2
    best = reloaded.search(_embedding(recognizer, group_faces[5]), 1)[0]
    assert best.person_id == bob_id and best.score >= recognizer.cos_threshold

    statements.clear()
    clock.advance(POLL_S)
    assert cache.current() is reloaded  # version unchanged: checked, but nothing is rebuilt
    assert len(statements) == 1


def test_empty_database_gives_an_empty_gallery(engine, keyring, recognizer):
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=FakeClock()
    )
    gallery = cache.current()
    assert len(gallery) == 0
    assert gallery.model_id == recognizer.model_id


def test_a_failed_reload_raises_every_time_instead_of_serving_the_old_gallery(
    engine, keyring, recognizer, group_faces, enroll_person
):
    enroll_person("Alice", group_faces[0])
    clock = FakeClock()
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=clock
    )
    assert len(cache.current()) == 1
    wrong_keyring = Keyring([secrets.token_bytes(32)])
    locked_out = GalleryCache(
        engine=engine, keyring=wrong_keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=clock
    )
    for _ in range(2):  # no time passes between the calls: still no stale answer
        with pytest.raises(UnknownKeyId):
            locked_out.current()
