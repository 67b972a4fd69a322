"""A door rule is added only to a door that exists, by its name now or a former one (SQLite, PostgreSQL).

Adding a rule used to register an unknown name as a new door, so a misspelt door got the rule and the
door meant stayed without it: open to every enrolled person if it had no rules.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import expect
from typer.testing import CliRunner

from api.cli import app
from storage import (
    DoorRuleCreate,
    Engine,
    Role,
    create_door,
    create_door_rule,
    create_group,
    list_door_rules,
    list_doors,
    rename_door,
    session_scope,
)
from tests.api.conftest import ApiHarness
from tests.api.console_browser import console_page
from tests.api.test_console import sign_in

RULE = {"group_id": 1, "weekdays": ["mon"], "start": "08:00", "end": "18:00"}
REFUSAL = (
    "no door is called 'labb', now or before a rename: register the door first (facegate doors create, "
    "POST /doors or the console's Access page), or add the rule with create_door (the API) or --create-door "
    "(facegate access "
    "rule add), which registers the door with this rule"
)


def _staff_and_lobby_renamed_hall(engine: Engine) -> None:
    with session_scope(engine) as session:
        create_group(session, name="staff")
        lobby = create_door(session, name="lobby")
        rename_door(session, lobby.id, name="hall", now=datetime.now(UTC))


def _doors_and_rules(engine: Engine) -> tuple[list[str], list[str]]:
    with session_scope(engine) as session:
        rules, _ = list_door_rules(session)
        return [door.name for door in list_doors(session)], [rule.door for rule in rules]


def test_a_rule_for_an_unknown_door_is_refused_over_http_unless_created(api: ApiHarness) -> None:
    engine, admin = api.services.engine, api.auth(Role.admin)
    _staff_and_lobby_renamed_hall(engine)

    refused = api.client.post("/access/rules", json=RULE | {"door": "labb"}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == REFUSAL
    assert _doors_and_rules(engine) == (["hall"], [])  # no door registered, no rule added

    created = api.client.post(
        "/access/rules", json=RULE | {"door": "labb", "create_door": True}, headers=admin
    )
    assert created.status_code == 201, created.text
    former = api.client.post("/access/rules", json=RULE | {"door": "lobby"}, headers=admin)
    assert former.status_code == 201, former.text
    assert former.json()["door"] == "hall"  # the door lobby names now
    assert _doors_and_rules(engine) == (["hall", "labb"], ["labb", "hall"])


def test_a_rule_for_an_unknown_door_is_refused_by_the_cli_unless_created(configured: Engine) -> None:
    _staff_and_lobby_renamed_hall(configured)
    command = ["access", "rule", "add", "--door", "labb", "--group-id", "1", "--day", "mon"]
    command += ["--start", "08:00", "--end", "18:00"]

    refused = CliRunner().invoke(app, command)
    assert refused.exit_code == 1
    assert " ".join(refused.output.split()) == f"error: DoorNotFound: {REFUSAL}"  # one line, however wrapped
    assert _doors_and_rules(configured) == (["hall"], [])

    created = CliRunner().invoke(app, [*command, "--create-door"])
    assert (created.exit_code, created.output) == (0, "rule 1 added to door labb\n")
    former = CliRunner().invoke(app, [*command[:4], "lobby", *command[5:]])
    assert (former.exit_code, former.output) == (0, "rule 2 added to door hall\n")
    assert _doors_and_rules(configured) == (["hall", "labb"], ["labb", "hall"])


def _rule_for_hall(engine: Engine) -> None:
    _staff_and_lobby_renamed_hall(engine)
    with session_scope(engine) as session:
        create_door(session, name="lab")
        create_door_rule(session, DoorRuleCreate(door="lab", **RULE))
        create_door_rule(session, DoorRuleCreate(door="hall", **RULE))


def test_rules_are_listed_over_http_by_any_name_the_door_has_had(api: ApiHarness) -> None:
    """`GET /access/rules?door=` matched the name now only: by a former name (the one the gates still use,
    the one `GET /events?door=` finds the door's events by) a door with rules looked like one without."""
    _rule_for_hall(api.services.engine)
    for name, doors in (("lobby", ["hall"]), ("hall", ["hall"]), ("lab", ["lab"]), ("labb", [])):
        page = api.client.get("/access/rules", params={"door": name}, headers=api.auth(Role.admin)).json()
        assert ([rule["door"] for rule in page["items"]], page["total"]) == (doors, len(doors)), name


def test_rules_are_listed_by_the_cli_by_any_name_the_door_has_had(configured: Engine) -> None:
    _rule_for_hall(configured)
    for name, title, rows in (("lobby", "1 door rules", ["│ 2 │ hall │"]), ("labb", "0 door rules", [])):
        result = CliRunner().invoke(app, ["access", "rule", "list", "--door", name])
        output = " ".join(result.output.split())
        assert result.exit_code == 0 and output.startswith(title), result.output
        assert re.findall(r"│ \d+ │ \w+ │", output) == rows, result.output


def test_the_console_shows_the_refusal_on_the_rule_form_with_its_input_kept(api: ApiHarness) -> None:
    """In Chromium against the app under uvicorn: the Access page's rule form with a misspelt door."""
    engine = api.services.engine
    _staff_and_lobby_renamed_hall(engine)
    with console_page(api.client.app, api.tokens[Role.admin], "/ui/access") as page:
        form = page.locator("form.rule-form")
        form.get_by_label("Door", exact=True).fill("labb")
        form.get_by_label("mon", exact=True).check()
        form.get_by_label("To", exact=True).fill("17:30")
        form.get_by_role("button", name="Add rule").click()

        expect(page.get_by_role("alert")).to_have_text(REFUSAL)
        expect(form.get_by_label("Door", exact=True)).to_have_value("labb")
        expect(form.get_by_label("To", exact=True)).to_have_value("17:30")
        expect(form.get_by_label("mon", exact=True)).to_be_checked()
    assert _doors_and_rules(engine) == (["hall"], [])
    csrf = sign_in(api.client, api.tokens[Role.admin])  # the former name, through the same form
    added = api.client.post("/ui/access/rules", data={**RULE, "door": "lobby", "csrf_token": csrf})
    assert added.status_code == 200, added.text
    assert _doors_and_rules(engine) == (["hall"], ["hall"])
