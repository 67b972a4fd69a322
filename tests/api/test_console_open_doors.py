"""The console offers, knowingly, the deletion that would leave a door without rules, as the API and CLI do.

A rule or group deletion that would leave a door with no rules (a door without rules admits every enrolled
person at any time) is refused; the API takes ?allow_open_doors=true and the CLI --allow-open-doors, but
the console only refused and pointed to those two, so an admin working from the console alone could not
make that change. The refusal now names the doors and offers a second form, "Delete anyway and leave
<door> open to every enrolled person", with the CSRF token and a one-time key as the other delete forms.
"""

from __future__ import annotations

import html
import re

import pytest
from playwright.sync_api import expect

from storage import Role, door_access_windows, list_doors_with_rules, list_groups, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in
from tests.api.test_console_sent_again import _form, _hall_staff_and_ada, _twice

CONFIRM = re.compile(r'<div class="card" id="open-doors-confirm">.*?</div>', re.DOTALL)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
BUTTON = "Delete anyway and leave hall open to every enrolled person"


def _rules_and_groups(api: ApiHarness) -> tuple[int, int]:
    with session_scope(api.services.engine) as session:
        doors, _ = list_doors_with_rules(session)
        _, groups = list_groups(session)
    return sum(len(door.rules) for door in doors), groups


def _hall_admits_everyone(api: ApiHarness) -> bool:
    """What a gate at hall loads beside the gallery: no rules, so every enrolled person passes."""
    with session_scope(api.services.engine) as session:
        return door_access_windows(session, door="hall") == []


@pytest.mark.parametrize(
    ("action", "left"),
    [("/ui/access/rules/1/delete", (0, 1)), ("/ui/access/groups/1/delete", (0, 0))],
    ids=["rule", "group"],
)
def test_the_refusal_offers_delete_anyway_which_deletes_once_and_opens_the_door(
    api: ApiHarness, action: str, left: tuple[int, int]
) -> None:
    _hall_staff_and_ada(api)
    csrf = sign_in(api.client, api.tokens[Role.admin])
    refused = api.client.post(action, data=_form(api, "/ui/access", action, csrf), follow_redirects=False)
    assert refused.status_code == 409
    assert "would leave door &#39;hall&#39; without rules" in refused.text
    confirm = CONFIRM.search(refused.text)
    assert confirm is not None, refused.text
    assert f'<form method="post" action="{action}"' in confirm[0]
    assert BUTTON in html.unescape(confirm[0])
    fields = dict(HIDDEN.findall(confirm[0]))
    assert fields.keys() == {"csrf_token", "form_key", "allow_open_doors"}
    assert (fields["csrf_token"], fields["allow_open_doors"]) == (csrf, "true")
    assert _rules_and_groups(api) == (1, 1) and not _hall_admits_everyone(api)

    forged = api.client.post(action, data={**fields, "csrf_token": "forged"}, follow_redirects=False)
    assert forged.status_code == 403 and _rules_and_groups(api) == (1, 1)
    first, second = _twice(api, action, fields)  # a double click on "Delete anyway" deletes once
    assert (first.status_code, second.status_code) == (303, 303), second.text
    assert first.headers["location"] == second.headers["location"] == "/ui/access"
    assert _rules_and_groups(api) == left and _hall_admits_everyone(api)


def test_delete_anyway_in_chromium_leaves_the_door_open_to_everyone(api: ApiHarness) -> None:
    _hall_staff_and_ada(api)
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/access") as page:
        base_url = page.url.removesuffix("/ui/access")
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("would leave door 'hall' without rules")
        expect(page.locator("#open-doors-confirm")).to_contain_text("Nothing was deleted.")
        assert not _hall_admits_everyone(api)

        page.get_by_role("button", name=BUTTON).click()
        expect(page).to_have_url(f"{base_url}/ui/access")
        expect(page.get_by_text("No rules: every enrolled person passes.")).to_be_visible()
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page.locator("#open-doors-confirm")).to_have_count(0)
    assert _rules_and_groups(api) == (0, 1) and _hall_admits_everyone(api)
