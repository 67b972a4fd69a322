"""An audit row edited to a value FaceGate never writes (SQLite keeps any value in any column) is named by the
events list, the CSV export and the console's Events page, instead of a 500 (PostgreSQL's column types refuse
such values: tests/storage/test_audit_chain.py)."""

from __future__ import annotations

import pytest

from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.storage.audit_helpers import append, sql

EDITS = {
    "decision": (
        "decision = 'GRANTED'",
        "its decision holds a value FaceGate never writes ('GRANTED' is not",
    ),
    "time": (
        "occurred_at = 'garbage'",
        "its occurred_at holds a value FaceGate never writes (Invalid isoformat",
    ),
}


@pytest.fixture
def five_events(api: ApiHarness, database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's column types refuse values FaceGate never writes")
    append(api.services.engine, api.services.keyring, range(1, 6))


def _edit_event_3(api: ApiHarness, edit: str) -> str:
    """Edit the third event as EDITS[`edit`] says; the detail an answer must name."""
    assignment, detail = EDITS[edit]
    sql(api.services.engine, f"UPDATE audit_event SET {assignment} WHERE sequence = 3")
    return detail


@pytest.mark.usefixtures("five_events")
@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("path", ["/events", "/events/export.csv"])
def test_the_list_and_the_export_name_the_unreadable_event(api: ApiHarness, edit: str, path: str) -> None:
    """Was a 500 (LookupError, ValueError): now a 409 naming the event, its column and the verification;
    the events below it still list."""
    detail = _edit_event_3(api, edit)

    response = api.client.get(path, headers=api.auth(Role.auditor))

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["status"] == "audit_event_unreadable"
    assert body["detail"].startswith(f"the audit event at sequence 3 cannot be read: {detail}")
    assert body["detail"].endswith(
        "`facegate audit verify` (or the console's Integrity page) checks the whole log"
    )
    below = api.client.get("/events", params={"before_sequence": 3}, headers=api.auth(Role.auditor))
    assert [event["sequence"] for event in below.json()["items"]] == [2, 1]
    above = api.client.get("/events", params={"limit": 2}, headers=api.auth(Role.auditor)).json()
    assert [event["sequence"] for event in above["items"]] == [5, 4]  # its cursor probes event 3's id alone
    assert above["next_before_sequence"] == 4


@pytest.mark.usefixtures("five_events")
def test_the_console_events_page_names_it_and_leads_to_integrity(api: ApiHarness) -> None:
    """Where console sign-in lands: was a 500; now the message, and a link to the Integrity page."""
    sign_in(api.client, api.tokens[Role.auditor])
    _edit_event_3(api, "decision")

    page = api.client.get("/ui/events")

    assert page.status_code == 409, page.text
    assert "An audit event cannot be read" in page.text
    assert 'data-error-status="audit_event_unreadable"' in page.text
    assert "the audit event at sequence 3 cannot be read: its decision holds" in page.text
    assert '<a href="/ui/integrity">' in page.text
    assert api.client.get("/ui/integrity").status_code == 200
