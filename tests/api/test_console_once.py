"""A console create form sent twice creates once: its one-time key replays where the first sending led.

The API's create routes took an Idempotency-Key, the console's forms nothing: a double click on a slow
answer or a reload that sent the form again created two people or two rules, added the photos twice, or
answered the second sending of a new group or door with "name taken" although it was created.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, Route, expect

from storage import (
    Role,
    create_api_key,
    create_door,
    create_group,
    list_doors_with_rules,
    list_groups,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in

RULE = {
    "door": "hall",
    "group_id": "1",
    "weekdays": "mon",
    "start": "08:00",
    "end": "18:00",
    "timezone": "UTC",
}


@dataclass(frozen=True)
class Counts:
    groups: int
    doors: int
    rules: int
    people: int
    templates: int


def _counts(api: ApiHarness) -> Counts:
    state = api.state()
    with session_scope(api.services.engine) as session:
        doors, _ = list_doors_with_rules(session)
        _, groups = list_groups(session)
    rules = sum(len(door.rules) for door in doors)
    return Counts(groups, len(doors), rules, state.people, state.templates)


def _hall_and_staff(api: ApiHarness) -> None:
    with session_scope(api.services.engine) as session:
        create_door(session, name="hall")
        create_group(session, name="staff")


def _sent_twice(route: Route) -> None:
    """The form reaches the server twice, as after a double click on a slow answer or a reload that sends
    it again; the browser is shown the second answer."""
    route.fetch(max_redirects=0)
    route.fulfill(response=route.fetch(max_redirects=0))


ENROLL_TIMEOUT_MS = 120_000
"""Both sendings embed the photo when neither finds the other's key first (SQLite): slow on a busy machine."""


def _double_click_while_busy(api: ApiHarness, page: Page, button: str) -> None:
    """Click `button` twice while the server is still busy with the first sending (the models held), as an
    impatient admin does: Chromium sends the form again, and the server gets both."""
    posts: list[str] = []

    def count(request: Request) -> None:
        if request.method == "POST":
            posts.append(request.url)

    page.get_by_role("button", name=button).scroll_into_view_if_needed()
    box = page.get_by_role("button", name=button).bounding_box()
    assert box is not None
    page.on("request", count)
    with api.services.recognizer_lock:
        for sent in (1, 2):  # the mouse: a locator's click would wait for the first sending's answer
            page.wait_for_timeout(1000)  # Chromium sent one POST for a dblclick: an impatient second click
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            deadline = time.monotonic() + 30
            while len(posts) < sent:
                assert time.monotonic() < deadline, f"Chromium sent {posts}"
                page.wait_for_timeout(50)
    page.remove_listener("request", count)


def test_each_create_form_sent_twice_by_chromium_creates_once(
    api: ApiHarness, group_faces: list[bytes], tmp_path: Path
) -> None:
    """In Chromium against the app under uvicorn: each Access form's request goes to the server twice (a
    reload sending it again), each enrollment form is double-clicked while the server is busy. JavaScript
    is off: console.js would send nothing on the second click (tests/api/test_console_submit_once.py)."""
    _hall_and_staff(api)
    photo = tmp_path / "ada.jpg"
    photo.write_bytes(group_faces[0])
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/access", has_javascript=False) as page:
        base_url = page.url.removesuffix("/ui/access")
        page.route(re.compile(r"/ui/access/(groups|doors|rules)$"), _sent_twice)
        page.get_by_label("New group").fill("night")
        page.get_by_role("button", name="Create group").click()
        expect(page.locator(".group", has_text="night")).to_be_visible()
        page.get_by_label("New door").fill("lab")
        page.get_by_role("button", name="Add door").click()
        expect(page.locator(".door", has_text="lab")).to_be_visible()
        for day in ("mon", "tue"):  # the page after the first is rendered anew: a fresh form creates again
            form = page.locator("form.rule-form")
            form.get_by_label("Door", exact=True).fill("hall")
            form.get_by_label(day, exact=True).check()
            form.get_by_role("button", name="Add rule").click()
            expect(page.get_by_role("cell", name=day, exact=True)).to_be_visible()
        expect(page).to_have_url(f"{base_url}/ui/access")
        expect(page.get_by_role("alert")).to_have_count(0)

        page.goto(f"{base_url}/ui/people/new")
        page.get_by_label("Name").fill("Ada")
        page.get_by_label("Photos").set_input_files(photo)
        _double_click_while_busy(api, page, "Enroll")
        expect(page.get_by_role("status")).to_have_text("Enrolled 1 photo.", timeout=ENROLL_TIMEOUT_MS)
        page.get_by_label("Photos").set_input_files(photo)
        _double_click_while_busy(api, page, "Add photos")
        templates = page.get_by_role("button", name="Delete template from ada.jpg")
        expect(templates).to_have_count(2, timeout=ENROLL_TIMEOUT_MS)
        expect(page.get_by_role("status")).to_have_text("Enrolled 1 photo.")
        expect(page.get_by_role("alert")).to_have_count(0)
    assert _counts(api) == Counts(groups=2, doors=2, rules=2, people=1, templates=2)


FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')


def _form_key(page: str, action: str) -> str:
    """The one-time key of the form posting to `action` on `page`."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.DOTALL)
    assert form is not None, action
    key = FORM_KEY.search(form[0])
    assert key is not None, form[0]
    return key[1]


@dataclass(frozen=True)
class CreateForm:
    page: str
    action: str
    data: dict[str, str]
    again: dict[str, str]
    """The values the freshly rendered form is sent with (a name is taken by then)."""
    field: str
    has_photo: bool = False


FORMS = [
    CreateForm("/ui/access", "/ui/access/groups", {"name": "night"}, {"name": "day"}, "groups"),
    CreateForm("/ui/access", "/ui/access/doors", {"name": "lab"}, {"name": "yard"}, "doors"),
    CreateForm("/ui/access", "/ui/access/rules", RULE, RULE, "rules"),
    CreateForm("/ui/people/new", "/ui/people", {"name": "Ada"}, {"name": "Ada"}, "people", has_photo=True),
    CreateForm("/ui/people/1", "/ui/people/1/photos", {}, {}, "templates", has_photo=True),
]


def _send(api: ApiHarness, form: CreateForm, data: dict[str, str], photo: bytes) -> Any:
    files = [("photos", ("ada.jpg", photo, "image/jpeg"))] if form.has_photo else None
    return api.client.post(form.action, data=data, files=files, follow_redirects=False)


@pytest.mark.parametrize("form", FORMS, ids=lambda form: form.field)
def test_a_create_form_sent_twice_redirects_both_to_what_it_created(
    api: ApiHarness, group_faces: list[bytes], form: CreateForm
) -> None:
    _hall_and_staff(api)
    assert api.create_person("Bo") == 1
    csrf = sign_in(api.client, api.tokens[Role.admin])
    before = getattr(_counts(api), form.field)
    key = _form_key(api.client.get(form.page).text, form.action)
    data = {**form.data, "csrf_token": csrf, "form_key": key}

    first, second = (_send(api, form, data, group_faces[0]) for _ in range(2))
    assert (first.status_code, second.status_code) == (303, 303), second.text
    assert second.headers["location"] == first.headers["location"]
    assert getattr(_counts(api), form.field) == before + 1

    fresh = _form_key(api.client.get(form.page).text, form.action)
    assert fresh != key
    again = _send(api, form, {**form.again, "csrf_token": csrf, "form_key": fresh}, group_faces[0])
    assert again.status_code == 303, again.text
    assert getattr(_counts(api), form.field) == before + 2


def test_a_key_replays_only_its_own_form_as_its_own_admin_sent_it(api: ApiHarness) -> None:
    """Another admin's session, or the same form with other values (edited after back), is a new request;
    a form without a key (a client of its own) creates at every sending, as before."""
    _hall_and_staff(api)
    with session_scope(api.services.engine) as session:
        other_admin = create_api_key(session, role=Role.admin, label="second", now=datetime.now(UTC))[0]
    csrf = sign_in(api.client, api.tokens[Role.admin])
    key = _form_key(api.client.get("/ui/access").text, "/ui/access/rules")
    sent = {**RULE, "csrf_token": csrf, "form_key": key}
    for data in (sent, sent, {**sent, "weekdays": "tue"}, {**RULE, "csrf_token": csrf}):
        assert api.client.post("/ui/access/rules", data=data, follow_redirects=False).status_code == 303
    assert _counts(api).rules == 3
    other_csrf = sign_in(api.client, other_admin)
    replayed = {**sent, "csrf_token": other_csrf}
    assert api.client.post("/ui/access/rules", data=replayed, follow_redirects=False).status_code == 303
    assert _counts(api).rules == 4


@pytest.mark.integration
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_form_sent_again_while_its_first_sending_runs_waits_for_it(
    api: ApiHarness, group_faces: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    """Two sendings of an enrollment at once (a double click): the one that finds the other holding the key
    (PostgreSQL) waits until it is done, then redirects where it led instead of a refusal."""
    caplog.set_level(logging.INFO, logger="api.console.once")
    csrf = sign_in(api.client, api.tokens[Role.admin])
    key = _form_key(api.client.get("/ui/people/new").text, "/ui/people")
    data = {"name": "Ada", "csrf_token": csrf, "form_key": key}
    form = CreateForm("/ui/people/new", "/ui/people", data, data, "people", has_photo=True)
    answers: list[Any] = []

    def send() -> None:
        answers.append(_send(api, form, data, group_faces[0]))

    with api.services.recognizer_lock:  # both sendings stop at the models; the first holds its key
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while "sent again while its first sending runs" not in caplog.text:
            assert time.monotonic() < deadline, "neither sending waited for the other"
            time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=60)
    assert [answer.status_code for answer in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"] == "/ui/people/1?added=1"
    assert _counts(api).people == 1 and _counts(api).templates == 1
