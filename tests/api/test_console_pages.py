"""Console pages over HTTP: access rules, deleting with confirmation, look-alikes, gate health on System."""

from __future__ import annotations

import re
import socket

from fastapi.testclient import TestClient

from api.app import create_app
from api.console.pages.events import PAGE_SIZE
from api.settings import ApiSettings
from enrollment import backfill_lookalikes
from gate import GateMetrics, HealthBoard, MonitoringServer
from storage import (
    AuditEventCreate,
    Decision,
    EventFilter,
    Role,
    append_event,
    count_events,
    create_person,
    list_door_rules,
    list_doors_with_rules,
    list_person_templates,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.test_console import sign_in
from tests.storage.lookalike_helpers import upgrade_from_0010


def test_admin_builds_groups_members_doors_and_a_weekly_rule(
    api: ApiHarness, enroll_person, group_faces
) -> None:
    person_id = enroll_person("Carol", group_faces[1])
    csrf = sign_in(api.client, api.tokens[Role.admin])
    assert (
        api.client.post("/ui/access/groups", data={"name": "night shift", "csrf_token": csrf}).status_code
        == 200
    )
    page = api.client.get("/ui/access").text
    assert "night shift" in page and "No members." in page
    added = api.client.post("/ui/access/groups/1/members", data={"person_id": person_id, "csrf_token": csrf})
    assert added.status_code == 200 and "Carol" in added.text
    assert api.client.post("/ui/access/doors", data={"name": "lab", "csrf_token": csrf}).status_code == 200
    again = api.client.post("/ui/access/doors", data={"name": "lab", "csrf_token": csrf})
    assert again.status_code == 409 and "already exists" in again.text
    rule = {
        "door": "lab",
        "group_id": "1",
        "weekdays": ["mon", "fri"],
        "start": "22:00",
        "end": "24:00",
        "timezone": "Europe/Berlin",
        "csrf_token": csrf,
    }
    assert api.client.post("/ui/access/rules", data=rule).status_code == 200
    with session_scope(api.services.engine) as session:
        rules, _ = list_door_rules(session, door="lab")
    assert [(r.weekdays, r.start, r.end, r.timezone) for r in rules] == [
        (["mon", "fri"], "22:00", "24:00", "Europe/Berlin")
    ]

    duplicate = api.client.post("/ui/access/groups", data={"name": "night shift", "csrf_token": csrf})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    bad_zone = api.client.post("/ui/access/rules", data={**rule, "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400 and "unknown time zone" in bad_zone.text
    no_days = api.client.post("/ui/access/rules", data={k: v for k, v in rule.items() if k != "weekdays"})
    assert no_days.status_code == 400
    # lab's only rule: deleting it (or its group) would open lab to every enrolled person at any time
    for path in (f"/ui/access/rules/{rules[0].id}/delete", "/ui/access/groups/1/delete"):
        refused = api.client.post(path, data={"csrf_token": csrf})
        assert refused.status_code == 409 and "would leave door &#39;lab&#39; without rules" in refused.text
    with session_scope(api.services.engine) as session:
        assert list_door_rules(session, door="lab")[1] == 1


def test_delete_asks_first_then_erases_and_reports(api: ApiHarness, enroll_person, group_faces) -> None:
    person_id = enroll_person("Dan", group_faces[0], group_faces[0])
    csrf = sign_in(api.client, api.tokens[Role.admin])
    api.client.post("/ui/access/groups", data={"name": "staff", "csrf_token": csrf})
    api.client.post("/ui/access/groups/1/members", data={"person_id": person_id, "csrf_token": csrf})
    confirm = api.client.get(f"/ui/people/{person_id}/delete")
    assert confirm.status_code == 200 and "their 2 templates" in confirm.text
    assert api.state().templates == 2
    report = api.client.post(f"/ui/people/{person_id}/delete", data={"csrf_token": csrf})
    assert report.status_code == 200 and "Erased" in report.text
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", report.text))
    assert facts["Templates removed"] == "2" and facts["Group memberships removed"] == "1"
    assert facts["Data key destroyed"].startswith("yes")
    assert api.state().people == 0 and api.state().templates == 0
    assert api.client.get(f"/ui/people/{person_id}").status_code == 404


def test_subject_access_download_holds_the_person_and_no_vectors(
    api: ApiHarness, enroll_person, group_faces
) -> None:
    person_id = enroll_person("Erin", group_faces[2])
    sign_in(api.client, api.tokens[Role.admin])
    response = api.client.get(f"/ui/people/{person_id}/export.json")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    export = response.json()
    assert export["person"]["name"] == "Erin" and len(export["templates"]) == 1
    assert not {"ciphertext", "nonce", "vector", "embedding"} & set(export["templates"][0])


def test_subject_access_download_of_an_erased_person_is_the_not_found_page(
    api: ApiHarness, enroll_person, group_faces
) -> None:
    person_id = enroll_person("Erin", group_faces[2])
    csrf = sign_in(api.client, api.tokens[Role.admin])
    assert api.client.post(f"/ui/people/{person_id}/delete", data={"csrf_token": csrf}).status_code == 200
    response = api.client.get(f"/ui/people/{person_id}/export.json")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in response.text
    assert "content-disposition" not in response.headers


def test_lookalike_page_lists_a_pair_enrolled_twice(api: ApiHarness, enroll_person, group_faces) -> None:
    enroll_person("Erin", group_faces[2])
    enroll_person("Erin again", group_faces[2])
    enroll_person("Frank", group_faces[3])
    sign_in(api.client, api.tokens[Role.admin])
    page = api.client.get("/ui/people/lookalikes").text
    assert 'Erin</a></td><td><a href="/ui/people/2">Erin again' in page and "Frank" not in page


def test_lookalike_page_counts_templates_stored_before_0011(
    api: ApiHarness, enroll_person, group_faces
) -> None:
    enroll_person("Erin", group_faces[2])
    enroll_person("Erin again", group_faces[2])
    upgrade_from_0010(api.services.engine)
    sign_in(api.client, api.tokens[Role.admin])
    page = api.client.get("/ui/people/lookalikes").text
    assert 'Erin</a></td><td><a href="/ui/people/2">Erin again' in page
    assert "2 templates have no stored look-alike record" in page and "backfill-lookalikes" in page
    backfill_lookalikes(api.services.engine, api.services.keyring, api.services.recognizer)
    assert "look-alike record" not in api.client.get("/ui/people/lookalikes").text


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_system_page_shows_each_gates_health(api: ApiHarness) -> None:
    now_s = [0.0]
    board = HealthBoard(max_camera_silence_s=30.0, clock=lambda: now_s[0])
    board.add_camera("entrance-cam", door="front")
    board.set_state("entrance-cam", "running", pid=4242)
    server = MonitoringServer(host="127.0.0.1", port=0, metrics=GateMetrics(), health=board)
    server.start()
    try:
        urls = [f"http://127.0.0.1:{server.port}/healthz", f"http://127.0.0.1:{_closed_port()}/healthz"]
        app = create_app(api.services, settings=ApiSettings(gate_health_urls=urls, gate_health_timeout_s=2))
        with TestClient(app) as client:
            sign_in(client, api.tokens[Role.auditor])
            page = client.get("/ui/system").text
            assert f"{urls[0]}: healthy" in page and "entrance-cam" in page
            assert f"{urls[1]}: NOT healthy" in page and "unreachable" in page
            now_s[0] = 60.0  # no frame for longer than max_camera_silence_s: the gate answers 503
            assert f"{urls[0]}: NOT healthy" in client.get("/ui/system").text
    finally:
        server.stop()


def test_search_and_rename_people(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        ids = [create_person(session, name=name).id for name in ("Ada Lovelace", "ADA King", "Grace Hopper")]
    csrf = sign_in(api.client, api.tokens[Role.admin])
    found = api.client.get("/ui/people", params={"q": "ada"}).text
    assert "Ada Lovelace" in found and "ADA King" in found and "Grace Hopper" not in found
    assert "(2)" in found
    assert "Nobody" in api.client.get("/ui/people", params={"q": "zzz"}).text
    renamed = api.client.post(
        f"/ui/people/{ids[2]}/rename", data={"name": "Rear Admiral Hopper", "csrf_token": csrf}
    )
    assert renamed.status_code == 200 and "Rear Admiral Hopper" in renamed.text
    assert (
        api.client.post("/ui/people/987654/rename", data={"name": "x", "csrf_token": csrf}).status_code == 404
    )


def test_door_rename_keeps_its_rules(api: ApiHarness) -> None:
    csrf = sign_in(api.client, api.tokens[Role.admin])
    api.client.post("/ui/access/groups", data={"name": "staff", "csrf_token": csrf})
    api.client.post("/ui/access/doors", data={"name": "lab", "csrf_token": csrf})
    rule = {
        "door": "lab",
        "group_id": "1",
        "weekdays": ["tue"],
        "start": "07:30",
        "end": "19:00",
        "csrf_token": csrf,
    }
    assert api.client.post("/ui/access/rules", data=rule).status_code == 200
    with session_scope(api.services.engine) as session:
        door_id = list_doors_with_rules(session)[0][0].id
    page = api.client.post(
        f"/ui/access/doors/{door_id}/rename", data={"name": "lab 2", "csrf_token": csrf}
    ).text
    assert "<h3>lab 2</h3>" in page and "07:30" in page
    with session_scope(api.services.engine) as session:
        assert [r.door for r in list_door_rules(session)[0]] == ["lab 2"]


def test_events_page_walks_back_by_sequence(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        for index in range(PAGE_SIZE + 5):
            event = AuditEventCreate(
                door="d", source="s", decision=Decision.denied, reason=f"r{index}", model_id="m"
            )
            append_event(session, api.services.keyring, event)
    sign_in(api.client, api.tokens[Role.auditor])
    first = api.client.get("/ui/events").text
    assert first.count("<tr class=") == PAGE_SIZE and "data-live-url" in first
    older_link = re.search(r'href="\?before=(\d+)">Older', first)
    assert older_link is not None and int(older_link[1]) == 6
    older = api.client.get("/ui/events", params={"before": older_link[1]}).text
    assert older.count("<tr class=") == 5 and "data-live-url" not in older and ">Newest<" in older
    assert [int(n) for n in re.findall(r"<tr class=\"denied\">\s*<td>(\d+)</td>", older)] == [5, 4, 3, 2, 1]


def test_events_page_that_ends_the_log_exactly_has_no_older_link(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        for index in range(PAGE_SIZE * 2):
            event = AuditEventCreate(
                door="d", source="s", decision=Decision.denied, reason=f"r{index}", model_id="m"
            )
            append_event(session, api.services.keyring, event)
    sign_in(api.client, api.tokens[Role.auditor])
    first = api.client.get("/ui/events").text
    older_link = re.search(r'href="\?before=(\d+)">Older', first)
    assert older_link is not None and int(older_link[1]) == PAGE_SIZE + 1
    last = api.client.get("/ui/events", params={"before": older_link[1]}).text
    assert last.count("<tr class=") == PAGE_SIZE and ">Older<" not in last and ">Newest<" in last


def test_person_page_lists_templates_and_deletes_one(api: ApiHarness, group_faces: list[bytes]) -> None:
    csrf = sign_in(api.client, api.tokens[Role.admin])
    files = [("photos", (f"dan-{i}.jpg", group_faces[0], "image/jpeg")) for i in (1, 2)]
    page = api.client.post("/ui/people", data={"name": "Dan", "csrf_token": csrf}, files=files).text
    assert "dan-1.jpg" in page and "dan-2.jpg" in page and api.services.recognizer.model_id in page
    assert "sharpness_laplacian_var" in page and "yaw_deg" in page
    with session_scope(api.services.engine) as session:
        first = list_person_templates(session, 1)[0][0]
    after = api.client.post(f"/ui/people/1/templates/{first.id}/delete", data={"csrf_token": csrf}).text
    assert first.source_name not in after and "dan-2.jpg" in after
    assert api.state().templates == 1
    gone = api.client.post(f"/ui/people/1/templates/{first.id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 404


def test_system_page_shows_the_policy_threshold_for_this_gallery(
    api: ApiHarness, enroll_person, group_faces
) -> None:
    sign_in(api.client, api.tokens[Role.auditor])
    empty = re.search(r"data-policy-threshold>cos ≥ ([0-9.]+): ([^<]+)<", api.client.get("/ui/system").text)
    for face in group_faces[:4]:
        enroll_person("x", face)
    grown = re.search(r"data-policy-threshold>cos ≥ ([0-9.]+): ([^<]+)<", api.client.get("/ui/system").text)
    assert empty is not None and grown is not None
    assert "over 0 identities" in empty[2] and "over 4 identities" in grown[2]
    assert float(grown[1]) >= float(empty[1])


def test_events_total_is_capped(api: ApiHarness, monkeypatch) -> None:
    monkeypatch.setattr("api.console.pages.events.TOTAL_CAP", 3)
    with session_scope(api.services.engine) as session:
        for door in ("a", "a", "a", "a", "b"):
            event = AuditEventCreate(
                door=door, source="s", decision=Decision.denied, reason="r", model_id="m"
            )
            append_event(session, api.services.keyring, event)
        door_a = EventFilter(door="a")
        assert count_events(session, where=door_a, at_most=3) == count_events(session, where=door_a) == 4
        assert count_events(session, where=EventFilter(door="b"), at_most=3) == 1
    sign_in(api.client, api.tokens[Role.auditor])
    assert "Events <small>(more than 3)</small>" in api.client.get("/ui/events", params={"door": "a"}).text
    assert "Events <small>(1)</small>" in api.client.get("/ui/events", params={"door": "b"}).text
