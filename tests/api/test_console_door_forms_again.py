"""The Access page's door rename and forget-name forms sent twice (a double click, a reload) answer as once.

Both forms had no one-time key. A forget-name form sent again answered 404 "'hall' is not a former name of
door 'atrium'" for the name its first sending had just dropped; a rename sent again renamed the door to
the name it already had, so the page the browser showed lost the first answer's notice (which gates and
device keys still know the door by its old name). Each now carries a one-time key: sent again, the form
shows the first sending's notice and changes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from storage import Role, create_door, list_doors_with_rules, rename_door, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in
from tests.api.test_console_forget_name import FORGOTTEN
from tests.api.test_console_sent_again import _form, _posts_twice, _twice

RENAMED = "Door hall is now atrium; its rules and device keys follow."


def _hall(api: ApiHarness) -> int:
    with session_scope(api.services.engine) as session:
        return create_door(session, name="hall").id


def _names(api: ApiHarness) -> list[tuple[str, list[str]]]:
    with session_scope(api.services.engine) as session:
        doors, _ = list_doors_with_rules(session)
        return [(door.name, door.former_names) for door in doors]


@pytest.mark.parametrize(
    ("form", "renamed_first", "notice"),
    [("rename", False, RENAMED), ("forget-name", True, FORGOTTEN)],
    ids=["rename", "forget-name"],
)
def test_a_door_form_sent_twice_shows_its_notice_both_times_and_no_error(
    api: ApiHarness, form: str, renamed_first: bool, notice: str
) -> None:
    """Rename hall to atrium; or, hall already renamed atrium, forget the name hall."""
    door_id = _hall(api)
    if renamed_first:
        with session_scope(api.services.engine) as session:
            rename_door(session, door_id, name="atrium", now=datetime.now(UTC))
    csrf = sign_in(api.client, api.tokens[Role.admin])
    action = f"/ui/access/doors/{door_id}/{form}"
    name = "hall" if renamed_first else "atrium"
    first, second = _twice(api, action, _form(api, "/ui/access", action, csrf) | {"name": name})
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert notice in first.text and notice in second.text
    assert 'role="alert"' not in second.text
    assert _names(api) == [("atrium", [] if renamed_first else ["hall"])]


def test_rename_then_forget_sent_twice_by_chromium_show_their_notices(api: ApiHarness) -> None:
    _hall(api)
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/access") as page:
        page.route(re.compile(r"/ui/access/doors/\d+/(rename|forget-name)$"), _posts_twice)
        door = page.locator(".door")
        door.get_by_label("Rename to").fill("atrium")
        door.get_by_role("button", name="Rename").click()
        expect(page.locator("#rename-notice")).to_contain_text(RENAMED)
        expect(page.get_by_role("alert")).to_have_count(0)

        door.get_by_role("button", name="Forget hall").click()
        expect(page.locator("#forget-notice")).to_have_text(FORGOTTEN)
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(door.get_by_role("button", name="Forget hall")).to_have_count(0)
    assert _names(api) == [("atrium", [])]
