"""GalleryCache: polls the stored gallery version on the injected clock and rebuilds on change (A2)."""

from __future__ import annotations

import gc
import logging
import secrets
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future

import pytest
from sqlalchemy import event, text

from gate import GalleryCache, GalleryStale, GateRuntime, GateSettings, gallery_source_for
from recognition import Recognizer
from storage import (
    DatabaseUnavailable,
    Decision,
    Engine,
    Keyring,
    StorageSettings,
    UnknownKeyId,
    delete_person,
    make_engine,
    session_scope,
)
from tests.fakes import FakeClock, Placement, build_frames
from tests.gate.pg_proxy import TcpProxy, proxy_to_test_postgres
from tests.gate.test_worker import GateRun
from tests.storage.audit_helpers import audited_by

POLL_S = 2.0
MAX_STALE_S = 300.0


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
    assert len(reloaded) == 2  # applied from the change log, not rebuilt
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


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    yield from proxy_to_test_postgres()


@pytest.fixture
def proxied_engine(proxy: TcpProxy, database_url: str) -> Iterator[Engine]:
    """The same database reached through the proxy; disposed, so no cut connection is left to the GC."""
    engine = make_engine(proxy.url_for(database_url))
    yield engine
    engine.dispose()


def _cache(engine: Engine, keyring, recognizer, clock, *, max_stale_s: float) -> GalleryCache:
    return GalleryCache(
        engine=engine,
        keyring=keyring,
        recognizer=recognizer,
        poll_s=POLL_S,
        monotonic=clock,
        max_stale_s=max_stale_s,
    )


def _messages(caplog, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records if record.name == "gate.gallery")


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_last_gallery_is_served_for_max_stale_s_of_an_outage_then_every_face_is_denied(
    proxied_engine, keyring, recognizer, group_faces, enroll_person, proxy, caplog
):
    caplog.set_level(logging.INFO)
    enroll_person("Alice", group_faces[0])
    clock = FakeClock()
    cache = _cache(proxied_engine, keyring, recognizer, clock, max_stale_s=MAX_STALE_S)
    confirmed = cache.current()

    proxy.cut()
    for _ in range(int(MAX_STALE_S / POLL_S)):  # every check fails; each is tried once per poll_s
        clock.advance(POLL_S)
        assert cache.current() is confirmed
    assert _messages(caplog, "database unreachable") == 1  # logged once, not per frame or per check

    clock.advance(POLL_S)  # max_stale_s after the first failed check
    for _ in range(3):
        with pytest.raises(GalleryStale, match="every face is denied"):
            cache.current()
    assert _messages(caplog, "every face is denied") == 1

    proxy.restore()
    clock.advance(POLL_S)
    assert cache.current() is confirmed  # same version: confirmed again, nothing rebuilt
    assert _messages(caplog, "reachable again") == 1


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_without_a_confirmed_gallery_an_outage_fails_closed_at_once(
    proxied_engine, keyring, recognizer, group_faces, enroll_person, proxy
):
    enroll_person("Alice", group_faces[0])
    proxy.cut()
    cache = _cache(proxied_engine, keyring, recognizer, FakeClock(), max_stale_s=MAX_STALE_S)
    with pytest.raises(GalleryStale) as raised:
        cache.current()
    assert isinstance(raised.value.__cause__, DatabaseUnavailable)


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_by_default_no_stale_gallery_is_served(
    proxied_engine, keyring, recognizer, group_faces, enroll_person, proxy
):
    enroll_person("Alice", group_faces[0])
    clock = FakeClock()
    cache = _cache(proxied_engine, keyring, recognizer, clock, max_stale_s=0.0)
    assert len(cache.current()) == 1
    proxy.cut()
    clock.advance(POLL_S)
    with pytest.raises(GalleryStale):
        cache.current()


OUTAGE_FRAMES = 66  # 1 s apart: the outage spans two error_audit_interval_s (30 s) and some


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_gallery_outage_is_logged_once_with_its_cause_then_counted_per_interval_not_per_frame(
    engine, proxied_engine, keyring, recognizer, group_faces, enroll_person, proxy, caplog
):
    """A face in every frame while the database is cut away: the worker logged a traceback per frame."""
    caplog.set_level(logging.INFO)
    alice_id = enroll_person("Alice", group_faces[0])
    run = GateRun(engine=engine, keyring=keyring, recognizer=recognizer, clock=FakeClock(100.0))
    cache = _cache(proxied_engine, keyring, recognizer, run.clock, max_stale_s=0.0)
    assert len(cache.current()) == 1
    (alice_frame,) = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=1)

    def frames() -> Iterator[object]:
        proxy.cut()
        run.clock.advance(POLL_S)  # the next frame checks the version, and finds the database gone
        for index in range(OUTAGE_FRAMES + 6):
            if index == OUTAGE_FRAMES:
                proxy.restore()  # this frame's version check (every 2 s) reaches the database again
            yield alice_frame
            run.clock.advance(1.0)

    decisions, _ = run(frames(), gallery=cache.current)

    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice_id)]
    worker = [r for r in caplog.records if r.name == "gate.worker" and "gallery" in r.getMessage()]
    assert [(r.levelno, r.exc_info is not None) for r in worker] == [
        (logging.ERROR, True),
        (logging.WARNING, False),
        (logging.WARNING, False),
        (logging.WARNING, False),
    ]
    first, *counts, recovered = (
        r.getMessage().removeprefix("door front, source replay:test: ") for r in worker
    )
    assert first.startswith("gallery unavailable (GalleryStale: database unreachable")
    still = "gallery still unavailable: 30 frames with a face in the last 30 s; door stays shut"
    assert counts == [still, still]
    assert recovered == "gallery available again after 66.0 s (66 frames with a face were denied)"
    assert sum(r.exc_info is not None for r in caplog.records if r.name == "gate.worker") == 1


class SteppedExecutor(Executor):
    """Runs what is submitted only when the test calls run_pending(): the background made deterministic."""

    def __init__(self) -> None:
        self.queued: list[tuple[Future, Callable[[], object]]] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:  # type: ignore[override]
        future: Future = Future()
        self.queued.append((future, lambda: fn(*args, **kwargs)))
        return future

    def run_pending(self) -> None:
        for future, call in self.queued:
            try:
                future.set_result(call())
            except Exception as exc:
                future.set_exception(exc)
        self.queued.clear()


def _stepped_cache(engine, keyring, recognizer) -> tuple[GalleryCache, FakeClock, SteppedExecutor]:
    """A cache polling every POLL_S of its fake clock, whose checks after the first load run only when the
    test calls the executor's run_pending()."""
    clock, background = FakeClock(), SteppedExecutor()
    cache = GalleryCache(
        engine=engine,
        keyring=keyring,
        recognizer=recognizer,
        poll_s=POLL_S,
        monotonic=clock,
        reload_in=background,
    )
    return cache, clock, background


def test_a_change_is_prepared_in_the_background_and_applied_without_a_rebuild(
    engine, keyring, recognizer, group_faces, enroll_person, caplog
):
    enroll_person("Alice", group_faces[0])
    cache, clock, background = _stepped_cache(engine, keyring, recognizer)
    first = cache.current()  # the first load runs at once: there is nothing to decide on before it
    assert len(first) == 1 and background.queued == []

    bob_id = enroll_person("Bob", group_faces[5])
    clock.advance(POLL_S)
    assert cache.current() is first and len(first) == 1  # the check is queued; frames go on meanwhile
    assert len(background.queued) == 1
    clock.advance(POLL_S)
    cache.current()
    assert len(background.queued) == 1, "one check at a time"

    caplog.set_level(logging.INFO, logger="recognition.gallery_sync")
    background.run_pending()
    now = cache.current()
    assert now is first and len(now) == 2  # the delta went into the gallery in place
    assert now.search(_embedding(recognizer, group_faces[5]), 1)[0].person_id == bob_id
    applied = [r for r in caplog.records if "1 templates added, 0 people removed" in r.getMessage()]
    assert len(applied) == 1


def test_without_a_usable_change_log_a_new_gallery_is_built_and_swapped_in(
    engine, keyring, recognizer, group_faces, enroll_person
):
    alice_id = enroll_person("Alice", group_faces[0])
    cache, clock, background = _stepped_cache(engine, keyring, recognizer)
    first = cache.current()
    with session_scope(engine) as session:
        delete_person(session, alice_id, erased_by=audited_by(keyring))
    with engine.begin() as connection:  # what a restore records: the log starts afresh
        connection.execute(text("UPDATE gallery_version SET changes_since = version"))

    clock.advance(POLL_S)
    assert cache.current() is first
    background.run_pending()
    rebuilt = cache.current()
    assert rebuilt is not first and len(rebuilt) == 0 and len(first) == 1


def test_a_database_gate_loads_its_gallery_at_start_on_the_reload_thread(
    engine, keyring, recognizer, group_faces, enroll_person, register_door, tmp_path, caplog
):
    """The first load's FAISS work runs where every core may be used, not on the frame loop's thread."""
    enroll_person("Alice", group_faces[0])
    register_door("front", engine=engine)
    runtime = GateRuntime(
        storage=StorageSettings(home=tmp_path / "home"), engine=engine, keyring=keyring, recognizer=recognizer
    )
    upstream = gallery_source_for(runtime, door="front", settings=GateSettings())
    caplog.set_level(logging.INFO, logger="recognition.gallery_sync")
    try:
        upstream.start()
        loads = [r for r in caplog.records if r.getMessage().startswith("gallery loaded")]
        assert [r.threadName.startswith("gallery-sync") for r in loads] == [True]
        assert len(upstream.gallery()) == 1
    finally:
        upstream.close()


def test_a_failed_check_raised_to_every_frame_keeps_none_of_the_frames_alive(
    engine, keyring, recognizer, group_faces, enroll_person
):
    """The failure was raised as one object to every frame until the next check, and each raise added the
    frame loop's frames (with the frame's image) to its traceback: 30 frames at 15 fps within a poll_s."""
    enroll_person("Alice", group_faces[0])
    run = GateRun(
        engine=engine, keyring=Keyring([secrets.token_bytes(32)]), recognizer=recognizer, clock=FakeClock()
    )
    (alice,) = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=1)
    alive: list[weakref.ref] = []

    def frames() -> Iterator[object]:
        for _ in range(30):  # no time passes: one check, raised to every frame
            frame = alice.copy()
            alive.append(weakref.ref(frame))
            yield frame

    decisions, _ = run(frames())

    assert decisions == []
    gc.collect()
    # at most the frame whose version check failed (its traceback's) and the last one's, not all 30
    assert sum(ref() is not None for ref in alive) <= 2
