"""`facegate doors` lists, registers and renames doors as `/doors` does (SQLite, PostgreSQL).

Doors could be registered or renamed only over the API or in the console, so a gate setting that refuses
unknown doors (`unknown_door: refuse`) left a CLI-only installation no way to register a door without a rule.
"""

from __future__ import annotations

import re

from typer.testing import CliRunner

from api.cli import app
from storage import (
    DoorRuleCreate,
    Engine,
    create_door_rule,
    create_group,
    list_doors_with_rules,
    session_scope,
)


def _invoke(*args: str) -> tuple[int, str]:
    """Exit code and output, its lines joined with single spaces however the terminal wrapped them."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def _doors(engine: Engine) -> list[tuple[int, str, list[str], int]]:
    with session_scope(engine) as session:
        doors, _ = list_doors_with_rules(session)
        return [(door.id, door.name, door.former_names, len(door.rules)) for door in doors]


def test_doors_are_created_renamed_and_listed(configured: Engine) -> None:
    assert _invoke("doors", "create", "lobby") == (
        0,
        "door 1 lobby created, without rules: it admits every enrolled person until it has one",
    )
    assert _invoke("doors", "create", "lab")[0] == 0
    with session_scope(configured) as session:
        create_group(session, name="staff")
        rule = DoorRuleCreate(door="lab", group_id=1, weekdays=["mon"], start="08:00", end="18:00")
        create_door_rule(session, rule)

    code, output = _invoke(
        "apikeys", "create", "--role", "device", "--label", "lobby-edge", "--door", "lobby"
    )
    token = re.search(r"fg_([^_\s]+)_", output)
    assert code == 0 and token is not None, output

    renamed = (
        "door 1 renamed from lobby to hall device keys serving the door (their edge gates get the former"
    )
    renamed += f" name at their next sync): {token[1]}"
    assert _invoke("doors", "rename", "1", "hall") == (0, renamed)
    assert _invoke("doors", "rename", "1", "hall") == (0, "door 1 is already called hall")
    assert _doors(configured) == [(1, "hall", ["lobby"], 0), (2, "lab", [], 1)]

    code, output = _invoke("doors", "list")
    assert code == 0 and output.startswith("2 doors")
    assert "1 │ hall │ lobby │ 0 (admits every enrolled person)" in output
    assert "2 │ lab │ │ 1" in output


def test_a_taken_name_or_an_unknown_door_is_one_line_and_exit_1(configured: Engine) -> None:
    for name in ("lobby", "lab"):
        assert _invoke("doors", "create", name)[0] == 0
    assert _invoke("doors", "rename", "1", "hall")[0] == 0

    assert _invoke("doors", "create", "hall") == (1, "error: Conflict: door 'hall' already exists")
    former = "error: Conflict: 'lobby' is a former name of door 'hall': gates configured with it still open"
    former += " that door"
    assert _invoke("doors", "create", "lobby") == (1, former)
    assert _invoke("doors", "rename", "2", "lobby") == (1, former)
    assert _invoke("doors", "rename", "2", "hall") == (1, "error: Conflict: door 'hall' already exists")
    assert _invoke("doors", "rename", "9", "vault") == (1, "error: NotFound: door 9 does not exist")
    too_long = (1, "error: door name: String should have at most 100 characters")
    assert _invoke("doors", "create", "x" * 101) == too_long
    assert _doors(configured) == [(1, "hall", ["lobby"], 0), (2, "lab", [], 0)]

    assert _invoke("doors", "rename", "1", "lobby") == (0, "door 1 renamed from hall to lobby")  # back
    assert _doors(configured) == [(2, "lab", [], 0), (1, "lobby", ["hall"], 0)]
