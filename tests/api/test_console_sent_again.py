"""The console's create-key form and its delete forms sent twice act once, as its other create forms do.

A double click or a reload that sent the Keys page's form again created a second API key; a delete form
(a group, a member, a rule, a template, a person) sent again answered "not found" for what its first
sending had just deleted. Each now carries a one-time key: sent again, the form lands where the first
sending went. A created key's secret is stored nowhere: the key form sent again names the key it created
and says its secret was shown on the first answer only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Route, expect

from storage import (
    DoorRuleCreate,
    Role,
    add_member,
    create_door,
    create_door_rule,
    create_group,
    list_api_keys,
    list_doors_with_rules,
    list_groups,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in
from tests.api.test_console_once import FORM_KEY
from tests.api.test_idempotency import _stored_answers

RULE = {"door": "hall", "group_id": 1, "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
SECRET = re.compile(r"data-new-secret>([^<]+)<")
OPEN_HALL = {"allow_open_doors": "true"}
"""Rule 1 is hall's only rule: its deletion (or its group's) is the refusal's "Delete anyway" form."""
DELETE_ANYWAY = "Delete anyway and leave hall open to every enrolled person"


def _hall_staff_and_ada(api: ApiHarness) -> None:
    """Person 1 (Ada) in group 1 (staff), which has rule 1 at door hall."""
    assert api.create_person("Ada") == 1
    with session_scope(api.services.engine) as session:
        create_door(session, name="hall")
        create_group(session, name="staff")
        add_member(session, group_id=1, person_id=1)
        create_door_rule(session, DoorRuleCreate.model_validate(RULE))


@dataclass(frozen=True)
class Access:
    groups: int
    members: int
    rules: int


def _access(api: ApiHarness) -> Access:
    with session_scope(api.services.engine) as session:
        groups, _ = list_groups(session)
        doors, _ = list_doors_with_rules(session)
    members = sum(len(group.member_ids) for group in groups)
    return Access(len(groups), members, sum(len(door.rules) for door in doors))


def _form(api: ApiHarness, page: str, action: str, csrf: str) -> dict[str, str]:
    """The form posting to `action` on `page`, as the browser sends it: its CSRF token and one-time key."""
    html = api.client.get(page).text
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', html, re.DOTALL)
    assert form is not None, action
    key = FORM_KEY.search(form[0])
    return {"csrf_token": csrf} | ({} if key is None else {"form_key": key[1]})


def _twice(api: ApiHarness, action: str, data: dict[str, str]) -> tuple[Any, Any]:
    first, second = (api.client.post(action, data=data, follow_redirects=False) for _ in range(2))
    return first, second


@pytest.mark.parametrize(
    ("action", "left", "extra"),
    [
        ("/ui/access/groups/1/delete", Access(groups=0, members=0, rules=0), OPEN_HALL),
        ("/ui/access/groups/1/members/1/delete", Access(groups=1, members=0, rules=1), {}),
        ("/ui/access/rules/1/delete", Access(groups=1, members=1, rules=0), OPEN_HALL),
    ],
    ids=["group", "member", "rule"],
)
def test_an_access_delete_form_sent_twice_lands_both_on_the_access_page(
    api: ApiHarness, action: str, left: Access, extra: dict[str, str]
) -> None:
    _hall_staff_and_ada(api)
    csrf = sign_in(api.client, api.tokens[Role.admin])
    first, second = _twice(api, action, _form(api, "/ui/access", action, csrf) | extra)
    assert (first.status_code, second.status_code) == (303, 303), second.text
    assert first.headers["location"] == second.headers["location"] == "/ui/access"
    assert _access(api) == left


def test_a_template_delete_form_sent_twice_lands_both_on_the_persons_page(
    api: ApiHarness, group_faces: list[bytes]
) -> None:
    assert api.create_person("Ada") == 1
    csrf = sign_in(api.client, api.tokens[Role.admin])
    photos = [("photos", (f"ada{i}.jpg", group_faces[0], "image/jpeg")) for i in (1, 2)]
    added = api.client.post("/ui/people/1/photos", data={"csrf_token": csrf}, files=photos)
    assert added.status_code == 200 and api.state().templates == 2, added.text
    found = re.search(r'action="(/ui/people/1/templates/[^"]+/delete)"', api.client.get("/ui/people/1").text)
    assert found is not None
    first, second = _twice(api, found[1], _form(api, "/ui/people/1", found[1], csrf))
    assert (first.status_code, second.status_code) == (303, 303), second.text
    assert first.headers["location"] == second.headers["location"] == "/ui/people/1"
    assert api.state().templates == 1


def test_the_person_delete_form_sent_twice_shows_the_erasure_again_without_the_name(api: ApiHarness) -> None:
    """The replay is the first answer's report (person id and counts), stored tied to no person and
    without the name, as the API's erasure report is."""
    _hall_staff_and_ada(api)
    csrf = sign_in(api.client, api.tokens[Role.admin])
    first, second = _twice(
        api, "/ui/people/1/delete", _form(api, "/ui/people/1/delete", "/ui/people/1/delete", csrf)
    )
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert "Erased <span" in first.text and "Ada" in first.text
    assert "Erased person 1" in second.text and "Ada" not in second.text
    assert "Group memberships removed</dt><dd>1<" in second.text
    assert api.state().people == 0
    [(route, person_id, body)] = _stored_answers(api.services.engine)
    assert (route, person_id) == ("POST /ui/people/{person_id}/delete", None)
    assert "Ada" not in body


def test_the_create_key_form_sent_twice_creates_one_key_and_names_it_without_its_secret(
    api: ApiHarness,
) -> None:
    csrf = sign_in(api.client, api.tokens[Role.admin])
    data = _form(api, "/ui/keys", "/ui/keys", csrf) | {"role": "device", "label": "edge-1"}
    first, second = _twice(api, "/ui/keys", data)
    assert (first.status_code, second.status_code) == (201, 200), second.text
    with session_scope(api.services.engine) as session:
        created = [key for key in list_api_keys(session)[0] if key.label == "edge-1"]
    assert len(created) == 1
    token = SECRET.search(first.text)
    assert token is not None
    secret = token[1].removeprefix(f"fg_{created[0].token_id}_")
    assert secret != token[1]
    assert "Key already created" in second.text
    assert f"key edge-1 (<code>{created[0].token_id}</code>, role device)" in second.text
    assert secret not in second.text and "data-new-secret" not in second.text
    stored = _stored_answers(api.services.engine)
    assert [route for route, _, _ in stored] == ["POST /ui/keys"]
    assert all(secret not in str(column) for row in stored for column in row)
    forged = api.client.post("/ui/keys", data={**data, "csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403 and "edge-1" not in forged.text  # CSRF is checked before the key


def _posts_twice(route: Route) -> None:
    """A POST reaches the server twice, as after a double click or a reload that sends the form again; the
    browser is shown the second answer."""
    if route.request.method != "POST":
        route.continue_()
        return
    route.fetch(max_redirects=0)
    route.fulfill(response=route.fetch(max_redirects=0))


def test_keys_and_delete_forms_sent_twice_by_chromium_act_once(api: ApiHarness) -> None:
    _hall_staff_and_ada(api)
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/keys") as page:
        base_url = page.url.removesuffix("/ui/keys")
        page.route(re.compile(r"/ui/(keys|access/.+/delete|people/\d+/delete)$"), _posts_twice)
        page.get_by_label("Role").select_option("device")
        page.get_by_label("Label").fill("edge-1")
        page.get_by_role("button", name="Create key").click()
        notice = page.get_by_role("status")
        expect(notice).to_contain_text("its first sending created key edge-1")
        expect(notice).to_contain_text("Its secret was shown once")
        expect(page.locator("[data-new-secret]")).to_have_count(0)
        expect(page.get_by_role("cell", name="edge-1", exact=True)).to_have_count(1)

        page.goto(f"{base_url}/ui/access")
        for buttons, gone in (
            (["Remove"], "No members."),
            (["Delete", DELETE_ANYWAY], "No rules: every enrolled person passes."),
            (["Delete group"], "No groups yet."),
        ):
            for button in buttons:  # hall's last rule: refused, then deleted with "Delete anyway"
                page.get_by_role("button", name=button, exact=True).click()
            expect(page.get_by_text(gone)).to_be_visible()
            expect(page).to_have_url(f"{base_url}/ui/access")
            expect(page.get_by_role("alert")).to_have_count(0)

        page.goto(f"{base_url}/ui/people/1/delete")
        page.get_by_role("button", name="Delete for good").click()
        expect(page.get_by_role("heading", name="Erased person 1")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)
    assert _access(api) == Access(groups=0, members=0, rules=0)
    assert api.state().people == 0
