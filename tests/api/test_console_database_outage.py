"""The console in a real browser (Debian Chromium, uvicorn) while its PostgreSQL is cut away by a TCP proxy:
the Events page's live refresh pauses and says why instead of sending the user to the sign-in form, a page
opened meanwhile explains the outage, and both work again once the database is back, without a restart.
The live refresh tells the other 5xx answers apart: a database without its schema stops it (waiting does
not help), and any other 5xx (a proxy's 502) pauses it with the status it got."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from api.app import create_app
from api.settings import ApiSettings
from recognition import Recognizer
from storage import Engine, Keyring, Role, make_engine
from tests.api.conftest import make_services, make_tokens
from tests.api.console_browser import launch_chromium, serving, sign_in_page
from tests.gate.pg_proxy import TcpProxy
from tests.storage.test_schema_missing import drop_every_table

# The live refresh runs every 3 s; a loaded two-core machine can take longer to show its outcome.
expect.set_options(timeout=20_000)


LIVE = re.compile(r"^Updates live; checked ")


@contextmanager
def _live_events_page(engine: Engine, keyring: Keyring, recognizer: Recognizer, token: str) -> Iterator[Page]:
    """The Events page, signed in with `token`, of the app on `engine` under uvicorn, once it is live."""
    services = make_services(engine, keyring, recognizer)
    with (
        serving(create_app(services, settings=ApiSettings())) as base_url,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_context().new_page()
        sign_in_page(page, base_url, token)
        page.goto(f"{base_url}/ui/events")
        expect(page.locator("[data-live-status]")).to_have_text(LIVE)
        yield page
        browser.close()


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_console_rides_out_a_database_outage(
    engine: Engine, database_url: str, proxy: TcpProxy, keyring: Keyring, recognizer: Recognizer
) -> None:
    proxied = make_engine(proxy.url_for(database_url))
    with _live_events_page(proxied, keyring, recognizer, make_tokens(engine)[Role.admin]) as page:
        events_url, live = page.url, page.locator("[data-live-status]")
        proxy.cut()
        expect(live).to_have_text("Live updates paused: the server cannot reach its database; retrying.")
        assert page.url == events_url
        other = page.context.new_page()  # another tab of the same session
        other.goto(events_url.replace("/ui/events", "/ui/people"))
        expect(other.get_by_role("heading", name="Unavailable")).to_be_visible()
        expect(other.get_by_role("alert")).to_contain_text("the database cannot be reached")
        proxy.restore()
        expect(live).to_have_text(LIVE)
        other.reload()
        expect(other.get_by_role("heading", name="People")).to_be_visible()
    proxied.dispose()


def test_the_live_refresh_says_which_5xx_it_got_and_stops_where_waiting_cannot_help(
    engine: Engine, keyring: Keyring, recognizer: Recognizer
) -> None:
    """It said 'the server cannot reach its database; retrying.' for every 503, a database without its
    schema (`schema_missing`: an operator must run `facegate init`) included, and sent the user to the
    sign-in form for any other 5xx. The 502 is a reverse proxy's (routed in the browser): the app answers
    none."""
    with _live_events_page(engine, keyring, recognizer, make_tokens(engine)[Role.admin]) as page:
        events_url, live = page.url, page.locator("[data-live-status]")
        rows = re.compile(r"/ui/events/rows(\?.*)?$")
        page.route(rows, lambda route: route.fulfill(status=502, body="Bad Gateway"))
        expect(live).to_have_text("Live updates paused: the server answered 502; retrying.")
        page.unroute(rows)
        expect(live).to_have_text(LIVE)
        drop_every_table(engine)
        expect(live).to_have_text(
            "Live updates stopped: the server's database lacks its schema; an operator must run "
            '"facegate init". Reload this page once that is done.'
        )
        assert page.url == events_url
