"""The audit log's own events (`recorded`, a re-anchoring) are no grant on any surface an auditor filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from storage import BREAK_ACKNOWLEDGED, Role, reanchor_checkpoint, session_scope
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.storage.audit_helpers import append, sql


@pytest.fixture
def reanchored(api: ApiHarness) -> ApiHarness:
    """Events 1-4 at door `front` (2 and 4 granted), 3 edited, then re-anchored: event 5 records it."""
    engine, keyring = api.services.engine, api.services.keyring
    append(engine, keyring, range(1, 5))
    sql(engine, "UPDATE audit_event SET score = 0.01 WHERE sequence = 3")
    with session_scope(engine) as session:
        reanchor_checkpoint(
            session, keyring, acknowledged=(3,), acknowledged_by="alice", note="INC-7", now=datetime.now(UTC)
        )
    return api


def _sequences(api: ApiHarness, path: str, **params: str) -> list[int]:
    response = api.client.get(path, params=params, headers=api.auth(Role.auditor))
    assert response.status_code == 200, response.text
    if path.endswith(".csv"):
        return [int(row["sequence"]) for row in csv.DictReader(io.StringIO(response.text))]
    return [int(item["sequence"]) for item in response.json()["items"]]


def test_the_api_and_its_export_keep_recorded_events_out_of_grants(reanchored: ApiHarness) -> None:
    assert _sequences(reanchored, "/events", decision="granted") == [4, 2]
    assert _sequences(reanchored, "/events/export.csv", decision="granted") == [4, 2]
    assert _sequences(reanchored, "/events", decision="recorded") == [5]
    body = reanchored.client.get(
        "/events", params={"decision": "recorded"}, headers=reanchored.auth(Role.auditor)
    )
    assert body.json()["items"][0]["reason"] == BREAK_ACKNOWLEDGED


def test_the_console_filter_offers_recorded(reanchored: ApiHarness) -> None:
    sign_in(reanchored.client, reanchored.tokens[Role.auditor])

    page = reanchored.client.get("/ui/events", params={"decision": "recorded"})

    assert page.status_code == 200
    assert '<option value="recorded" selected>' in page.text
    assert page.text.count("<tr class=") == page.text.count('<tr class="recorded">') == 1
    granted = reanchored.client.get("/ui/events", params={"decision": "granted"}).text
    assert granted.count("<tr class=") == granted.count('<tr class="granted">') == 2
