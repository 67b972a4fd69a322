"""A console form once submitted sends nothing more until the page changes (api/console/static/console.js).

The server's one-time key (api/console/once.py) made a form sent twice change things once, but the
browser shows the answer to the last sending: a second click on the Keys page's Create key while the
first sending's answer was on its way showed "Key already created ... Its secret was shown once", so the
admin never saw the new key's secret, on the first answer only, and had to revoke the key and create
another. With JavaScript off, forms are sent as before and the one-time key alone answers a second sending
(tests/api/test_console_once.py's enrollment double clicks run so).
"""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from playwright.sync_api import expect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage import Role, list_api_keys, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page

HOLD_S = 30.0


class FirstAnswerHeld:
    """`app` with the answer to the first POST to `path` held back until `release` is set: the request has
    reached the server and made its change, its answer is on a slow way back. Other requests pass."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app, self.path = app, path
        self.posts = 0
        self.answered, self.release = threading.Event(), threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) != ("POST", self.path):
            await self.app(scope, receive, send)
            return
        self.posts += 1
        if self.posts > 1:
            await self.app(scope, receive, send)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        self.answered.set()
        await asyncio.to_thread(self.release.wait, HOLD_S)
        for message in answer:
            await send(message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser's part: any database
def test_a_second_click_on_create_key_sends_nothing_and_the_secret_is_shown(api: ApiHarness) -> None:
    """Clicks while the first answer is on its way send nothing; the first answer, with the secret, is what
    the browser shows."""
    app = FirstAnswerHeld(api.client.app, "/ui/keys")
    with console_page(app, api.tokens[Role.admin], "/ui/keys") as page:
        button = page.get_by_role("button", name="Create key")
        box = button.bounding_box()
        assert box is not None
        page.get_by_label("Label").fill("edge-1")
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert app.answered.wait(HOLD_S), "the first sending did not reach the server"
        # The mouse: a locator's click would wait for the pending page.
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        app.release.set()
        expect(page.locator("[data-new-secret]")).to_have_text(re.compile(r"^fg_"))
        expect(page.get_by_role("status")).not_to_contain_text("Key already created")
    assert app.posts == 1
    with session_scope(api.services.engine) as session:
        assert [key.label for key in list_api_keys(session)[0]].count("edge-1") == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_form_whose_sending_was_stopped_may_be_sent_again(api: ApiHarness) -> None:
    """Esc (the Stop button) while the answer is on its way leaves the page as it was: its buttons stayed
    disabled and the form sent nothing more, so only a reload helped. Sent again, the one-time key answers
    with the key the stopped sending created."""
    app = FirstAnswerHeld(api.client.app, "/ui/keys")
    with console_page(app, api.tokens[Role.admin], "/ui/keys") as page:
        button = page.get_by_role("button", name="Create key")
        page.get_by_label("Label").fill("edge-1")
        box = button.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert app.answered.wait(HOLD_S), "the first sending did not reach the server"
        # What Esc does: Chromium's Stop, which CDP sends without waiting for the pending page.
        page.context.new_cdp_session(page).send("Page.stopLoading")
        app.release.set()
        expect(button).to_be_enabled()
        button.click()
        expect(page.get_by_role("status")).to_contain_text("Key already created")
        expect(page.get_by_role("status")).to_contain_text("created key edge-1")
    assert app.posts == 2
