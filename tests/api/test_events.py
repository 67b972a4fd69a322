"""GET /events: every filter, pagination and total, newest first (F4)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage import AuditEventCreate, Decision, Role, append_event, iter_event_rows, session_scope
from tests.api.conftest import ApiHarness

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)

EVENTS = [
    # (minutes after T0, door, decision, person_id)
    (0, "front", Decision.granted, 1),
    (10, "front", Decision.denied, None),
    (20, "back", Decision.granted, 2),
    (30, "front", Decision.granted, 2),
    (40, "back", Decision.denied, 1),
    (50, "front", Decision.denied, None),
]


@pytest.fixture
def events_api(api: ApiHarness) -> ApiHarness:
    with session_scope(api.services.engine) as session:
        for minutes, door, decision, person_id in EVENTS:
            append_event(
                session,
                api.services.keyring,
                AuditEventCreate(
                    door=door,
                    source="cam-1",
                    decision=decision,
                    reason="match" if decision is Decision.granted else "unknown face",
                    person_id=person_id,
                    score=0.8 if person_id else 0.1,
                    threshold=0.363,
                    model_id="sface-int8",
                    occurred_at=T0 + timedelta(minutes=minutes),
                ),
            )
    return api


def _query(api: ApiHarness, **params: Any) -> dict[str, Any]:
    response = api.client.get("/events", params=params, headers=api.auth(Role.auditor))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _minutes(body: dict[str, Any]) -> list[int]:
    items = body["items"]
    assert isinstance(items, list)
    return [int((datetime.fromisoformat(e["occurred_at"]) - T0).total_seconds() // 60) for e in items]


def test_all_events_newest_first(events_api: ApiHarness) -> None:
    body = _query(events_api)
    assert body["total"] == 6
    assert _minutes(body) == [50, 40, 30, 20, 10, 0]
    first = body["items"][0]
    assert first["door"] == "front" and first["decision"] == "denied" and first["person_id"] is None
    assert datetime.fromisoformat(first["occurred_at"]).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("params", "expected_minutes"),
    [
        ({"door": "back"}, [40, 20]),
        ({"door": "nowhere"}, []),
        ({"person_id": 2}, [30, 20]),
        ({"decision": "denied"}, [50, 40, 10]),
        ({"door": "front", "decision": "granted"}, [30, 0]),
        ({"since": (T0 + timedelta(minutes=30)).isoformat()}, [50, 40, 30]),
        ({"until": (T0 + timedelta(minutes=20)).isoformat()}, [10, 0]),
        # The same instant written in another zone selects the same events.
        ({"since": "2030-05-01T10:10:00+02:00", "until": "2030-05-01T08:40:00Z"}, [30, 20, 10]),
    ],
    ids=["door", "unknown-door", "person", "decision", "door+decision", "since", "until-exclusive", "zones"],
)
def test_filters(events_api: ApiHarness, params: dict[str, Any], expected_minutes: list[int]) -> None:
    body = _query(events_api, **params)
    assert _minutes(body) == expected_minutes
    assert body["total"] == len(expected_minutes)


def test_pagination_keeps_the_total(events_api: ApiHarness) -> None:
    pages = [_query(events_api, offset=offset, limit=4) for offset in (0, 4, 8)]
    assert [page["total"] for page in pages] == [6, 6, 6]
    assert [_minutes(page) for page in pages] == [[50, 40, 30, 20], [10, 0], []]
    filtered = _query(events_api, decision="denied", offset=1, limit=1)
    assert filtered["total"] == 3 and _minutes(filtered) == [40]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 501},
        {"limit": 0},
        {"offset": -1},
        {"decision": "maybe"},
        {"since": "yesterday"},
        {"since": "2030-05-01T08:00:00"},  # no time zone: ambiguous
        {"person_id": "bob"},
    ],
    ids=lambda p: str(p),
)
def test_bad_query_is_422(events_api: ApiHarness, params: dict[str, Any]) -> None:
    response = events_api.client.get("/events", params=params, headers=events_api.auth(Role.auditor))
    assert response.status_code == 422
    assert response.json()["detail"]


def test_limit_500_is_allowed(events_api: ApiHarness) -> None:
    assert _query(events_api, limit=500)["total"] == 6


def test_keyset_pages_walk_the_sequence_under_a_filter(events_api: ApiHarness) -> None:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"door": "front", "limit": 2}
        if cursor is not None:
            params["before_sequence"] = cursor
        page = _query(events_api, **params)
        pages.append(_minutes(page))
        assert page["total"] == 4
        cursor = page["next_before_sequence"]
        if cursor is None:
            break
    assert pages == [[50, 30], [10, 0]]  # the second page is exactly full and the last: no empty third


def test_the_csv_export_streams_every_match_of_the_filter(events_api: ApiHarness) -> None:
    params = {"decision": "denied", "since": T0.isoformat()}
    response = events_api.client.get(
        "/events/export.csv", params=params, headers=events_api.auth(Role.auditor)
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["door"] for row in rows] == ["front", "back", "front"]
    assert {row["decision"] for row in rows} == {"denied"}
    assert [int(row["sequence"]) for row in rows] == sorted(
        (int(row["sequence"]) for row in rows), reverse=True
    )


def test_the_csv_export_keeps_formula_like_text_as_text(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        append_event(
            session,
            api.services.keyring,
            AuditEventCreate(
                door='=HYPERLINK("http://x.invalid","open")',
                source="@cam",
                decision=Decision.denied,
                reason="unknown face",
                score=-0.25,
                threshold=0.363,
                model_id="sface-int8",
                occurred_at=T0,
            ),
        )
    response = api.client.get("/events/export.csv", headers=api.auth(Role.auditor))
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["door"] == '\'=HYPERLINK("http://x.invalid","open")'
    assert row["source"] == "'@cam"
    assert row["reason"] == "unknown face"
    assert float(row["score"]) == -0.25


def test_the_export_is_for_auditors_and_admins(events_api: ApiHarness) -> None:
    for role, expected in ((Role.admin, 200), (Role.auditor, 200), (Role.device, 403)):
        response = events_api.client.get("/events/export.csv", headers=events_api.auth(role))
        assert response.status_code == expected


def test_event_row_batches_cover_everything_once(events_api: ApiHarness) -> None:
    engine = events_api.services.engine
    batches = list(iter_event_rows(engine, columns=["sequence", "occurred_at"], batch_rows=4))
    assert [len(batch) for batch in batches] == [4, 2]
    sequences = [row[0] for batch in batches for row in batch]
    assert sequences == sorted(set(sequences), reverse=True) and len(sequences) == 6
    assert {row[1].utcoffset() for batch in batches for row in batch} == {timedelta(0)}
    with pytest.raises(ValueError, match="link_hash|prev_hash"):
        next(iter_event_rows(engine, columns=["sequence", "prev_hash"]))


def test_without_the_total_the_page_is_the_same(events_api: ApiHarness) -> None:
    counted = _query(events_api, door="front", limit=3)
    uncounted = _query(events_api, door="front", limit=3, with_total="false")
    assert uncounted["total"] is None and counted["total"] == 4
    assert uncounted["items"] == counted["items"]
    assert (
        uncounted["next_before_sequence"]
        == counted["next_before_sequence"]
        == counted["items"][-1]["sequence"]
    )


def test_a_page_that_ends_the_matches_exactly_has_no_cursor(events_api: ApiHarness) -> None:
    # "null when this page is the last": also when exactly `limit` matches were left
    whole = _query(events_api, door="front", limit=4)
    assert _minutes(whole) == [50, 30, 10, 0] and whole["next_before_sequence"] is None
    first = _query(events_api, door="front", limit=2)
    assert first["next_before_sequence"] == first["items"][-1]["sequence"]
    last = _query(events_api, door="front", limit=2, before_sequence=first["next_before_sequence"])
    assert _minutes(last) == [10, 0] and last["next_before_sequence"] is None
    assert _query(events_api, door="front", limit=3, offset=1)["next_before_sequence"] is None
    every = _query(events_api, limit=6, with_total="false")
    assert len(every["items"]) == 6 and every["next_before_sequence"] is None
    one_short = _query(events_api, limit=5)
    assert one_short["next_before_sequence"] == one_short["items"][-1]["sequence"]


def _append_with_uid(api: ApiHarness, event_uid: str | None, *, door: str = "front") -> None:
    with session_scope(api.services.engine) as session:
        append_event(
            session,
            api.services.keyring,
            AuditEventCreate(
                door=door,
                source="cam-1",
                decision=Decision.granted,
                reason="match",
                person_id=1,
                model_id="sface-int8",
                event_uid=event_uid,
                occurred_at=T0,
            ),
        )


def test_each_event_shows_its_event_uid_and_the_filter_finds_it(api: ApiHarness) -> None:
    uids = ["0b6f3c1e-5d2a-4c8e-9f1a-2b3c4d5e6f70", None, "7e2d9a44-1c3b-4f5e-8a6b-9c0d1e2f3a4b"]
    for uid in uids:
        _append_with_uid(api, uid)

    assert [e["event_uid"] for e in _query(api)["items"]] == uids[::-1]
    for uid in (uids[0], uids[2]):
        found = _query(api, event_uid=uid)
        assert found["total"] == 1 and [e["event_uid"] for e in found["items"]] == [uid]
    assert _query(api, event_uid="f" * 36)["total"] == 0
    too_long = api.client.get("/events", params={"event_uid": "f" * 37}, headers=api.auth(Role.auditor))
    assert too_long.status_code == 422
    # The CSV export's last column, after every column it had before (their positions do not move).
    response = api.client.get("/events/export.csv", headers=api.auth(Role.auditor))
    header, *rows = list(csv.reader(io.StringIO(response.text)))
    assert header[-1] == "event_uid" and header[:-1][:2] == ["sequence", "occurred_at"]
    assert header[:-1][-1] == "track_id" and len(header) == 14
    assert [row[-1] for row in rows] == [uids[2], "", uids[0]]
    response = api.client.get(
        "/events/export.csv", params={"event_uid": uids[0]}, headers=api.auth(Role.auditor)
    )
    assert [row["event_uid"] for row in csv.DictReader(io.StringIO(response.text))] == [uids[0]]


def test_a_formula_like_event_uid_is_exported_as_text(api: ApiHarness) -> None:
    # A device posts its events' event_uid: any text up to 36 characters.
    _append_with_uid(api, "=1+1")
    response = api.client.get("/events/export.csv", headers=api.auth(Role.auditor))
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert row["event_uid"] == "'=1+1"
    assert _query(api, event_uid="=1+1")["items"][0]["event_uid"] == "=1+1"
