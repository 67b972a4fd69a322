"""The Events page's filter form, sent by a real browser with some fields left empty (headless Chromium).

A browser sends every field of a GET form, an empty date input as `from_day=`: the page answered any
filter without both days with a 422 JSON body ("Input should be a valid date or datetime, input is too
short"), so an auditor could filter by door, decision or person only after picking two days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from storage import AuditEventCreate, Decision, Role, append_event, ensure_door, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page

# Two shared cores under load: Playwright's 5 s default waits for a page a loaded machine renders later.
expect.set_options(timeout=20_000)


def _events(api: ApiHarness) -> None:
    """At door front: two denials and a grant, an hour apart."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with session_scope(api.services.engine) as session:
        ensure_door(session, name="front")
        for hours, decision in enumerate([Decision.denied, Decision.granted, Decision.denied]):
            event = AuditEventCreate(
                door="front",
                source="cam-1",
                decision=decision,
                reason="unknown" if decision == Decision.denied else "match",
                model_id=api.services.recognizer.model_id,
                occurred_at=start + timedelta(hours=hours),
            )
            append_event(session, api.services.keyring, event)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser's part: any database
def test_a_filter_without_days_shows_its_events(api: ApiHarness) -> None:
    _events(api)
    with console_page(api.client.app, api.tokens[Role.auditor], "/ui/events") as page:
        expect(page.locator("#event-rows tr")).to_have_count(3)
        page.get_by_label("Decision").select_option("denied")
        page.get_by_role("button", name="Filter").click()

        assert "from_day=&" in page.url  # the empty day fields, as Chromium sends them
        expect(page.locator("#event-rows tr")).to_have_count(2)
        expect(page.locator("#event-rows td.decision")).to_have_text(["denied", "denied"])
        expect(page.get_by_role("heading", name="Events")).to_contain_text("(2)")
