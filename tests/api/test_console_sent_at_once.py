"""A console form sent twice at the same time acts once, and neither sending is told it was refused.

A form's one-time key (api/console/once.py) answered a second sending with the first one's answer when the
first had ended; sent at once (a double click with JavaScript off, or while another writer held SQLite's
write lock), both sendings found no answer yet on SQLite, one created the group, and the other, waiting for
the write lock, then met it: "another access group has the same name" (409), though that admin's own click
had just created it, and the browser shows the answer to the last sending. PostgreSQL's advisory lock on
the key already serialises the two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage import Engine, Role, list_groups, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.gate.edge_support import wait_for

# Two shared cores under load: Playwright's 5 s default waits for a page a loaded machine renders later.
expect.set_options(timeout=20_000)

WAIT_S = 30.0


class AnswersRecorded:
    """`app`, recording the status and Location of each answer to a POST to `path`."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app, self.path = app, path
        self.answers: list[tuple[int, str | None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) != ("POST", self.path):
            await self.app(scope, receive, send)
            return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message["headers"])
                location = headers.get(b"location")
                self.answers.append((message["status"], location.decode() if location else None))
            await send(message)

        await self.app(scope, receive, record)


@contextmanager
def _first_insert_held(engine: Engine, table: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first sending's transaction held just after its insert into `table` (it holds SQLite's write
    lock, uncommitted: a slow change) until a second one is about to insert too. Yields the events set once
    the first has inserted and once the second is about to."""
    inserted, second_coming = threading.Event(), threading.Event()
    inserts = 0

    def is_insert(statement: str) -> bool:
        return statement.lstrip().upper().startswith(f"INSERT INTO {table.upper()} ")

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal inserts
        if is_insert(statement):
            inserts += 1
            if inserts == 2:
                second_coming.set()

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if is_insert(statement) and not inserted.is_set():
            inserted.set()
            assert second_coming.wait(WAIT_S), "no second sending came"

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield inserted, second_coming
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL holds the key: see above
def test_create_group_clicked_twice_at_once_creates_it_once_and_says_nothing_was_refused(
    api: ApiHarness,
) -> None:
    app = AnswersRecorded(api.client.app, "/ui/access/groups")
    engine = api.services.engine
    with console_page(app, api.tokens[Role.admin], "/ui/access", has_javascript=False) as page:
        page.get_by_label("New group").fill("staff")
        box = page.get_by_role("button", name="Create group").bounding_box()
        assert box is not None
        with _first_insert_held(engine, "access_group") as (inserted, second_coming):
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            assert inserted.wait(WAIT_S), "the first sending did not reach its insert"
            # The mouse: a locator's click would wait for the pending page.
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            # it found no answer for the form's key (the first's is not committed yet); the browser shows
            # its answer
            assert second_coming.wait(WAIT_S), "the second sending did not reach its insert"
            # The listeners stay until both sendings have answered: removing them while the first's thread
            # still walked them raised "deque mutated during iteration" there (a 500; seen once in CI).
            wait_for(lambda: len(app.answers) == 2, timeout_s=WAIT_S, what="both sendings' answers")
        expect(page.get_by_role("heading", name="staff")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page).to_have_url(page.url.split("/ui/")[0] + "/ui/access")
    assert app.answers == [(303, "/ui/access")] * 2
    with session_scope(engine) as session:
        assert [group.name for group in list_groups(session)[0]] == ["staff"]
