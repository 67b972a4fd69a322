"""The console's Access page drops a door's former name, as `DELETE /doors/{id}/former-names/{name}` does.

The page listed each door's former names with no way to drop one: an admin working from the console had to
go to the shell (`facegate doors forget-name`) or the API to free a mistyped rename's name.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from playwright.sync_api import expect

from storage import Role, create_door, list_doors_with_rules, rename_door, session_scope
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in
from tests.api.test_events_former_names import record_event

FORGOTTEN = (
    "Door atrium no longer answers to hall: gates configured with hall no longer find it, and another door "
    "may take the name."
)
KEPT = (
    "events were audited under 'lobby' (sources: cam-1): it stays a former name of door 'atrium', so that "
    "the door's event filter keeps finding them"
)
ALERT = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.DOTALL)


def _atrium_formerly_lobby_and_hall(api: ApiHarness) -> int:
    """Door lobby, with an event under that name, renamed hall (no events), then atrium; its id."""
    with session_scope(api.services.engine) as session:
        door_id = create_door(session, name="lobby").id
    record_event(api, "lobby", 0)
    with session_scope(api.services.engine) as session:
        for name in ("hall", "atrium"):
            rename_door(session, door_id, name=name, now=datetime.now(UTC))
    return door_id


def _former_names(api: ApiHarness) -> list[str]:
    with session_scope(api.services.engine) as session:
        doors, _ = list_doors_with_rules(session)
        return [name for door in doors for name in door.former_names]


def _alert(page: str) -> str:
    found = ALERT.search(page)
    assert found is not None, page
    return html.unescape(found[1])


def test_an_admin_forgets_a_former_name_in_the_browser_but_not_one_with_events(api: ApiHarness) -> None:
    """In Chromium against the app under uvicorn: Forget beside each former name of the door."""
    _atrium_formerly_lobby_and_hall(api)
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/access") as page:
        door = page.locator(".door", has_text="atrium")
        expect(door).to_contain_text("Former names, still used by gates configured with them: lobby")
        door.get_by_role("button", name="Forget hall").click()

        expect(page.locator("#forget-notice")).to_have_text(FORGOTTEN)
        expect(door.get_by_role("button", name="Forget hall")).to_have_count(0)
        door.get_by_role("button", name="Forget lobby").click()

        expect(page.get_by_role("alert")).to_have_text(KEPT)
        expect(page.locator("#forget-notice")).to_have_count(0)
        expect(door.get_by_role("button", name="Forget lobby")).to_be_visible()
    assert _former_names(api) == ["lobby"]


def test_the_forget_form_refuses_an_auditor_and_a_name_the_door_does_not_have(api: ApiHarness) -> None:
    door_id = _atrium_formerly_lobby_and_hall(api)
    forget = f"/ui/access/doors/{door_id}/forget-name"
    csrf = sign_in(api.client, api.tokens[Role.auditor])
    page = api.client.get("/ui/access", follow_redirects=False)
    assert page.status_code == 403 and "forget-name" not in page.text  # no page, so no Forget button
    posted = api.client.post(forget, data={"name": "hall", "csrf_token": csrf})
    assert posted.status_code == 403 and "This page needs the role admin." in posted.text, posted.text
    assert _former_names(api) == ["lobby", "hall"]

    csrf = sign_in(api.client, api.tokens[Role.admin])
    for path, name, status_code, message in (
        (forget, "atrium", 404, "'atrium' is not a former name of door 'atrium'"),
        ("/ui/access/doors/987654/forget-name", "hall", 404, "door 987654 does not exist"),
        (forget, "lobby", 409, KEPT),
    ):
        refused = api.client.post(path, data={"name": name, "csrf_token": csrf})
        assert (refused.status_code, _alert(refused.text)) == (status_code, message), name
    assert _former_names(api) == ["lobby", "hall"]
