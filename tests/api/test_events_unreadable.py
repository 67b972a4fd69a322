"""An audit row edited to a value FaceGate never writes (SQLite keeps any value in any column) is named by the
events list, the CSV export and the console's Events page, instead of a 500 (PostgreSQL's column types refuse
such values: tests/storage/test_audit_chain.py)."""

from __future__ import annotations

import csv
import io
import logging

import httpx2 as httpx
import pytest
from sqlalchemy import Connection, event

from api.app import create_app
from api.settings import ApiSettings
from storage import Role
from tests.api.conftest import ApiHarness
from tests.api.console_browser import serving
from tests.api.test_console import sign_in
from tests.api.test_events_export_outage import capturing_the_server
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


BATCH_ROWS = 5000
"""storage.iter_event_rows' batch: the exports below span two of them."""
EXPORTED = BATCH_ROWS + 3
FILL_SQL = f"""
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {EXPORTED})
INSERT INTO audit_event (sequence, occurred_at, door, source, track_id, decision, reason, person_id,
                         score, threshold, model_id, chain_key_id, prev_hash, link_hash)
SELECT n, '2030-05-01 08:00:00.000000', 'front', 'cam-1', n, 'granted', 'match', 7, 0.8, 0.363, 'sface-int8',
       'test', printf('%064d', n), printf('%064d', n + 1)
FROM g
"""
"""Rows straight into the table (not a valid hash chain: nothing here verifies it)."""

PAST_THE_FIRST_BATCH = {
    **EDITS,
    "no-such-day": (
        "occurred_at = '2030-02-30 08:00:00.000000'",  # FaceGate's shape: SQLite's strftime moves it
        "its occurred_at holds a value FaceGate never writes (day is out of range for month)",
    ),
    "year-0": (
        "occurred_at = '0000-05-01 08:00:00.000000'",
        "its occurred_at holds a value FaceGate never writes (year 0 is out of range",
    ),
    "time-a-number": ("occurred_at = 20300102", "its occurred_at holds a value FaceGate never writes ("),
    "decision-a-number": ("decision = 1", "its decision holds a value FaceGate never writes ("),
}


@pytest.fixture
def two_batches(api: ApiHarness, database_url: str) -> None:
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's column types refuse values FaceGate never writes")
    sql(api.services.engine, FILL_SQL)


@pytest.mark.usefixtures("two_batches")
@pytest.mark.parametrize("edit", list(PAST_THE_FIRST_BATCH))
def test_an_export_with_an_unreadable_event_past_its_first_batch_is_refused_before_its_first_byte(
    api: ApiHarness, edit: str
) -> None:
    """Event 2 lies in the export's second batch: the export answered 200 and streamed the first 5,000 rows,
    then broke off (Starlette's "Caught handled exception, but response already started", which uvicorn
    logged with a traceback before it dropped the connection), where an event in the first batch was the
    409. Now the whole filter is checked first: the same 409 wherever the event lies, also for a time in
    FaceGate's own shape that names no real day."""
    assignment, detail = PAST_THE_FIRST_BATCH[edit]
    sql(api.services.engine, f"UPDATE audit_event SET {assignment} WHERE sequence = 2")

    response = api.client.get("/events/export.csv", headers=api.auth(Role.auditor))

    assert response.status_code == 409, response.text[:300]
    body = response.json()
    assert body["status"] == "audit_event_unreadable"
    assert body["detail"].startswith(f"the audit event at sequence 2 cannot be read: {detail}")
    with_time_text = "occurred_at = '2030-05-01T08:00:00'"  # other text, same instant: it reads back
    sql(api.services.engine, f"UPDATE audit_event SET {with_time_text} WHERE sequence IN (5003, 4, 3)")
    assert api.client.get("/events/export.csv", headers=api.auth(Role.auditor)).status_code == 409


@pytest.mark.usefixtures("two_batches")
def test_the_console_export_is_refused_before_its_first_byte_too(api: ApiHarness) -> None:
    sign_in(api.client, api.tokens[Role.auditor])
    sql(api.services.engine, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 2")

    page = api.client.get("/ui/events/export.csv")

    assert page.status_code == 409, page.text[:300]
    assert "An audit event cannot be read" in page.text
    assert "the audit event at sequence 2 cannot be read: its decision holds" in page.text


@pytest.mark.usefixtures("two_batches")
def test_an_event_edited_while_the_export_streams_cuts_it_off_with_one_error_line(
    api: ApiHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Event 2 is edited as the second batch is asked for, after the check: the 200 and 5,000 rows are out,
    so the download must fail, not end, and the log names the event in one line, without the traceback
    uvicorn logged for Starlette's RuntimeError before."""

    edited: list[str] = []

    def edit_at_the_second_batch(
        _connection: Connection, _cursor: object, statement: str, *_: object
    ) -> None:
        if not edited and "audit_event.track_id" in statement and "audit_event.sequence < ?" in statement:
            edited.append(statement)
            sql(api.services.engine, "UPDATE audit_event SET decision = 'GRANTED' WHERE sequence = 2")

    received = bytearray()
    with serving(create_app(api.services, settings=ApiSettings())) as url, capturing_the_server(caplog):
        event.listen(api.services.engine, "before_cursor_execute", edit_at_the_second_batch)
        export = f"{url}/events/export.csv"
        with (
            caplog.at_level(logging.WARNING),
            httpx.stream("GET", export, headers=api.auth(Role.auditor), timeout=30.0) as response,
            pytest.raises(httpx.RemoteProtocolError),  # "incomplete chunked read"
        ):
            for chunk in response.iter_bytes():
                received += chunk
        event.remove(api.services.engine, "before_cursor_execute", edit_at_the_second_batch)

    assert response.status_code == 200
    assert len(list(csv.reader(io.StringIO(received.decode())))) == 1 + BATCH_ROWS
    said = (
        f"GET /events/export.csv was cut off after {len(received)} bytes of its 200 answer (left "
        "unterminated: the client sees an incomplete download): the audit event at sequence 2 cannot be "
        "read: its decision holds"
    )
    named = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert [(r.name, r.levelno) for r in named] == [("api.events_csv", logging.ERROR)], caplog.text
    assert named[0].getMessage().startswith(said)
    assert not [r for r in caplog.records if r.exc_info], "no traceback: an edited row is not a bug"
