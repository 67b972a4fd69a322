"""Time filters at the ends of the calendar: an instant UTC cannot hold (0001-01-01T00:00+01:00) and the
console's last day (9999-12-31) select what they say, in the API, its CSV and the console's Events page."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from api.app import create_app
from api.settings import ApiSettings
from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.storage.audit_helpers import append

FILTERS: dict[str, tuple[dict[str, str], list[int]]] = {
    "since-before-year-1-utc": ({"since": "0001-01-01T00:00:00+01:00"}, [3, 2, 1]),
    "until-after-year-9999-utc": ({"until": "9999-12-31T23:59:59-01:00"}, [3, 2, 1]),
    "since-after-year-9999-utc": ({"since": "9999-12-31T23:00:00-02:00"}, []),
    "until-before-year-1-utc": ({"until": "0001-01-01T00:30:00+01:00"}, []),
}


@pytest.fixture
def three_events(api: ApiHarness) -> ApiHarness:
    append(api.services.engine, api.services.keyring, range(1, 4))
    return api


def _csv_sequences(text: str) -> list[int]:
    return [int(row["sequence"]) for row in csv.DictReader(io.StringIO(text))]


@pytest.mark.parametrize(("params", "sequences"), FILTERS.values(), ids=list(FILTERS))
def test_a_bound_beyond_what_utc_holds_filters_as_it_says(
    three_events: ApiHarness, params: dict[str, Any], sequences: list[int]
) -> None:
    """These bounds were 500s: converting them to UTC overflows the datetime range."""
    api = three_events
    listed = api.client.get("/events", params=params, headers=api.auth(Role.auditor))
    assert listed.status_code == 200, listed.text
    assert [item["sequence"] for item in listed.json()["items"]] == sequences
    assert listed.json()["total"] == len(sequences)
    exported = api.client.get("/events/export.csv", params=params, headers=api.auth(Role.auditor))
    assert exported.status_code == 200, exported.text
    assert _csv_sequences(exported.text) == sequences


def test_in_a_browser_the_last_day_a_date_holds_ends_the_range(three_events: ApiHarness) -> None:
    """Headless Chromium: "To (UTC day)" 9999-12-31, an auditor's "until forever", lists and exports every
    event (the day after it, the filter's exclusive end, was an OverflowError: 500 for both)."""
    api = three_events
    app = create_app(api.services, settings=ApiSettings())
    with console_page(app, api.tokens[Role.auditor], "/ui/events") as page:
        page.get_by_label("From (UTC day)").fill("2030-01-02")
        page.get_by_label("To (UTC day)").fill("9999-12-31")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("heading", name="Events")).to_contain_text("(3)")
        expect(page.locator("#event-rows tr td:first-child")).to_have_text(["3", "2", "1"])
        with page.expect_download() as download:
            page.get_by_role("link", name="Export CSV").click()
        assert _csv_sequences(Path(download.value.path()).read_text()) == [3, 2, 1]
