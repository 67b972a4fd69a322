"""Gallery changes through the database: NOTIFY wakes a waiting reader on PostgreSQL; polling elsewhere."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from storage import GalleryChangeFeed, bump_gallery_version, gallery_version, make_engine, session_scope
from tests.conftest import POSTGRES_STATUS, POSTGRES_URL
from tests.gate.pg_proxy import TcpProxy, proxy_to_test_postgres

HANG_S = 60.0


def _bump_later(engine, delay_s: float) -> threading.Timer:
    def bump() -> None:
        with session_scope(engine) as session:
            bump_gallery_version(session)

    timer = threading.Timer(delay_s, bump)
    timer.start()
    return timer


def _version(engine) -> int:
    with session_scope(engine) as session:
        return gallery_version(session)


def test_a_waiting_reader_sees_a_change_made_on_another_connection(engine) -> None:
    is_postgres = engine.dialect.name == "postgresql"
    feed = GalleryChangeFeed(engine, mode="listen", poll_s=60.0 if is_postgres else 0.05)
    feed.start()
    try:
        if is_postgres:
            for _ in range(200):
                if feed.is_listening:
                    break
                threading.Event().wait(0.05)
            assert feed.is_listening
        before = _version(engine)
        timer = _bump_later(engine, 0.3)
        # On PostgreSQL the poll interval is a minute: only the notification can end the wait in time.
        assert feed.wait_for_change(before, timeout_s=30.0) == before + 1
        timer.join()
        assert (feed.notification_count >= 1) is is_postgres
    finally:
        feed.stop()
        feed.stop()


def test_polling_mode_and_an_unchanged_gallery(engine) -> None:
    feed = GalleryChangeFeed(engine, mode="poll", poll_s=0.05)
    feed.start()  # no thread in poll mode
    before = _version(engine)
    assert feed.wait_for_change(before, timeout_s=0.2) == before  # the timeout passes, nothing changed
    assert feed.wait_for_change(before + 7, timeout_s=30.0) == before  # already different: at once
    timer = _bump_later(engine, 0.2)
    assert feed.wait_for_change(before, timeout_s=30.0) == before + 1
    timer.join()
    assert feed.notification_count == 0 and not feed.is_listening


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_STATUS)
    yield from proxy_to_test_postgres()


FeedFactory = Callable[..., GalleryChangeFeed]


@pytest.fixture
def make_feed(proxy: TcpProxy) -> Iterator[FeedFactory]:
    """LISTEN feeds on the test PostgreSQL through `proxy`, their URL without a connect_timeout: the engine's
    connect timeout (make_engine's argument, the database_connect_timeout_s setting: 2 s here, libpq's
    minimum, 10 s by default) bounds each connect; `stop_wait_s` is the feed's own (30 s by default)."""
    assert POSTGRES_URL is not None
    engine = make_engine(proxy.url_for(POSTGRES_URL, connect_timeout_s=None), connect_timeout_s=2)
    feeds: list[GalleryChangeFeed] = []

    def make(**options: float) -> GalleryChangeFeed:
        feeds.append(GalleryChangeFeed(engine, mode="listen", poll_s=0.1, **options))
        return feeds[-1]

    yield make
    proxy.cut()  # a thread left waiting on the proxy gets a reset and ends
    for feed in feeds:
        feed.stop()
    _wait_until(lambda: not any(thread.name == "gallery-listen" for thread in threading.enumerate()))
    engine.dispose()


def _wait_until(predicate: Callable[[], bool], *, bound_s: float = HANG_S) -> None:
    """Polls `predicate`; fails after `bound_s` (a hang detector, not a speed claim)."""
    deadline_s = time.monotonic() + bound_s
    while not predicate():
        assert time.monotonic() < deadline_s, f"still waiting after {bound_s:.0f} s"
        threading.Event().wait(0.05)


def _stop_within_hang_bound(feed: GalleryChangeFeed) -> None:
    stopper = threading.Thread(target=feed.stop, name="test-stopper", daemon=True)
    stopper.start()
    stopper.join(timeout=HANG_S)
    assert not stopper.is_alive(), f"stop() had not returned after {HANG_S:.0f} s: it hangs"


def _feed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "storage.changes"]


@pytest.mark.integration
@pytest.mark.slow
def test_a_feed_reconnecting_to_a_database_that_never_answers_retries_and_stops(
    make_feed: FeedFactory, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Its LISTEN connection is reset, and the database then accepts TCP and never answers (a hung server,
    a black-holed route): psycopg alone waits 130 s on each connect, so the feed sat in its reconnect and
    stop() with it. With the engine's connect timeout the feed tries again (its waiters poll meanwhile) and
    stop() ends the thread (well within its default 30 s wait)."""
    feed = make_feed()
    feed.start()
    _wait_until(lambda: feed.is_listening)
    with caplog.at_level(logging.DEBUG, logger="storage.changes"):
        proxy.hold_new_connections()
        _wait_until(lambda: proxy.held >= 2)  # the first reconnect gave up and the feed tried again
        _stop_within_hang_bound(feed)
    lines = _feed_lines(caplog)
    timed_out = "gallery LISTEN reconnect failed (connection timeout expired)"
    assert any(line.startswith(timed_out) for line in lines), lines
    assert not [line for line in lines if "did not stop" in line], lines
    assert not any(thread.name == "gallery-listen" for thread in threading.enumerate())


@pytest.mark.integration
@pytest.mark.slow
def test_a_feed_whose_listen_is_never_answered_stops_within_its_wait_and_says_so(
    make_feed: FeedFactory, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The connection is made and LISTEN never answered (a server hung after the handshake, a half-open
    path): nothing in psycopg bounds that wait, and stop() joined the thread for good. It now waits its
    stop_wait_s (30 s by default, as the gallery load and the idempotency purge do; 1 s here) and leaves the
    thread to end on its own."""
    proxy.swallow(b"LISTEN")
    feed = make_feed(stop_wait_s=1.0)
    feed.start()
    _wait_until(lambda: proxy.swallowed >= 1)
    with caplog.at_level(logging.WARNING, logger="storage.changes"):
        _stop_within_hang_bound(feed)
    assert _feed_lines(caplog) == [
        "the gallery LISTEN thread did not stop within 1 s; left to end on its own"
    ]
    assert not feed.is_listening


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_request_waiting_for_a_notify_polls_once_the_listen_connection_is_lost(
    database_url: str, engine, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The LISTEN connection is reset (a restarted server, a NAT that forgot it) and its reconnects get no
    answer to LISTEN, while reads still work: a request that was waiting for a NOTIFY went on waiting for
    its whole wait (the feed says waiters poll while it is down), so an enrolment made meanwhile reached no
    edge gate until the wait ended or LISTEN came back. The loss now wakes the waiters, which then poll."""
    feed_engine = make_engine(proxy.url_for(database_url), connect_timeout_s=2)
    feed = GalleryChangeFeed(feed_engine, mode="listen", poll_s=0.1, stop_wait_s=1.0)
    feed.start()
    _wait_until(lambda: feed.is_listening)
    before = _version(engine)
    seen: list[int] = []
    waiter = threading.Thread(
        target=lambda: seen.append(feed.wait_for_change(before, timeout_s=2 * HANG_S)), daemon=True
    )
    try:
        with caplog.at_level(logging.INFO, logger="storage.changes"):
            waiter.start()
            threading.Event().wait(0.3)  # the waiter waits for a NOTIFY
            proxy.swallow(b"LISTEN")
            proxy.reset_open()
            _wait_until(lambda: proxy.swallowed >= 1)  # down for good: LISTEN is never answered
            with session_scope(engine) as session:
                bump_gallery_version(session)
            waiter.join(timeout=HANG_S)
            assert not waiter.is_alive(), f"the waiter saw no change within {HANG_S:.0f} s"
            assert seen == [before + 1]
    finally:
        proxy.cut()
        feed.stop()
        feed_engine.dispose()


@pytest.mark.integration
def test_a_listen_connection_down_for_several_reconnects_is_logged_by_its_loss_and_its_return(
    make_feed: FeedFactory, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The database away (refused) for several reconnects: one WARNING for the loss, one for the return, the
    failed reconnects at DEBUG (each was a WARNING, every 0.1 s doubling to every 10 s for the outage)."""
    feed = make_feed()
    feed.start()
    _wait_until(lambda: feed.is_listening)
    with caplog.at_level(logging.DEBUG, logger="storage.changes"):
        proxy.cut()
        _wait_until(lambda: sum("reconnect failed" in line for line in _feed_lines(caplog)) >= 2)
        proxy.restore()
        _wait_until(lambda: feed.is_listening)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("gallery LISTEN connection lost ("), warnings
    back = r"gallery LISTEN connection back after [0-9.]+ s \(([2-9]|\d\d+) reconnects failed\)"
    assert re.fullmatch(back, warnings[1]), warnings
