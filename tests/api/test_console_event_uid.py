"""The console's Events page finds an event by its event_uid, a door unlock's unlock_id (in a real browser).

5ee0607 gave GET /events, the CSV export and `facegate events` an event_uid filter, but the console's
Events page had no field for it and showed no uid: an auditor handed an unlock_id by a door controller's
log could not look it up there.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from storage import AuditEventCreate, Decision, Role, append_event, ensure_door, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page

# Two shared cores under load: Playwright's 5 s default waits for a page a loaded machine renders later.
expect.set_options(timeout=20_000)

UIDS = [
    "0b6f3c1e-5d2a-4c8e-9f1a-2b3c4d5e6f70",
    "7e2d9a44-1c3b-4f5e-8a6b-9c0d1e2f3a4b",
    "c4a1f2e3-9b8d-4e7f-a6c5-d4e3f2a1b0c9",
]


def _grants(api: ApiHarness) -> None:
    """Three grants at door front, an hour apart, each with its unlock_id, and one event without a uid."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
    with session_scope(api.services.engine) as session:
        ensure_door(session, name="front")
        for hours, uid in enumerate([*UIDS, None]):
            event = AuditEventCreate(
                door="front",
                source="cam-1",
                decision=Decision.granted if uid else Decision.denied,
                reason="match" if uid else "unknown",
                model_id=api.services.recognizer.model_id,
                event_uid=uid,
                occurred_at=start + timedelta(hours=hours),
            )
            append_event(session, api.services.keyring, event)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser's part: any database
def test_an_auditor_finds_a_grant_by_its_unlock_id(api: ApiHarness) -> None:
    _grants(api)
    with console_page(api.client.app, api.tokens[Role.auditor], "/ui/events") as page:
        rows = page.locator("#event-rows tr")
        expect(rows).to_have_count(4)
        expect(rows.nth(0)).not_to_contain_text(UIDS[0])  # the newest, a denial without a uid
        expect(rows.nth(1).locator("td.uid")).to_have_text(UIDS[2])

        # pasted from a controller's log, with the space around it
        page.get_by_label("Event uid").fill(f" {UIDS[1]} ")
        page.get_by_role("button", name="Filter").click()

        expect(rows).to_have_count(1)
        expect(rows.first.locator("td.uid")).to_have_text(UIDS[1])
        expect(rows.first.locator("td.decision")).to_have_text("granted")
        expect(page.get_by_role("heading", name="Events")).to_contain_text("(1)")
        expect(page.get_by_label("Event uid")).to_have_value(UIDS[1])
        # the live refresh keeps the filter: its rows are the same one event
        live_url = page.locator("#event-rows").get_attribute("data-live-url") or ""
        refreshed = page.request.get(urljoin(page.url, live_url))
        assert refreshed.text().count("<tr") == 1 and UIDS[1] in refreshed.text()
        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["event_uid"] for row in exported] == [UIDS[1]]

        page.get_by_label("Event uid").fill("f" * 36)
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_text(["No events match."])
