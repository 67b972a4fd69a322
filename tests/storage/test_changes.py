"""Gallery changes through the database: NOTIFY wakes a waiting reader on PostgreSQL; polling elsewhere."""

from __future__ import annotations

import threading

from storage import GalleryChangeFeed, bump_gallery_version, gallery_version, session_scope


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
