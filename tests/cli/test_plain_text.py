"""What `facegate` prints is shown as written and whole: names people typed, paths and hints.

A person, door or group is named freely, so once one was named `[/]` the listing that showed it ended with
rich's MarkupError (exit 1, nothing listed), and one named `[red]Eve` was listed as `Eve`; a door name longer
than its table column was cut with `…`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from storage import (
    DoorRuleCreate,
    Engine,
    Weekday,
    create_door,
    create_door_rule,
    create_group,
    create_person,
    rename_door,
    session_scope,
)

MARKUP_NAMES = ("[/]", "[red]Eve", "[b]x[/b] [bold")


def _rows(*args: str) -> list[list[str]]:
    """The body rows of the table `facegate ARGS` prints, each as its stripped cells."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]


def test_names_like_markup_are_listed_as_written(configured: Engine) -> None:
    with session_scope(configured) as session:
        for number, name in enumerate(MARKUP_NAMES, start=1):
            create_person(session, name=name)
            create_door(session, name=f"{name} door")
            create_group(session, name=name)
            rule = DoorRuleCreate(
                door=f"{name} door",
                create_door=False,
                group_id=number,
                weekdays=[Weekday.mon],
                start="08:00",
                end="17:00",
                timezone="UTC",
            )
            create_door_rule(session, rule)

    doors = sorted(f"{name} door" for name in MARKUP_NAMES)
    assert sorted(row[1] for row in _rows("people", "list")) == sorted(MARKUP_NAMES)
    assert sorted(row[1] for row in _rows("doors", "list")) == doors  # listed by name
    assert sorted(row[1] for row in _rows("access", "group", "list")) == sorted(MARKUP_NAMES)
    assert sorted(row[1] for row in _rows("access", "rule", "list")) == doors


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (("train", "photos"), "error: training needs the train extra: pip install 'facegate[train]' ("),
        (("pad", "export"), "error: needs the train extra (pip install -e '.[train]'): "),
    ],
)
def test_the_train_extra_hint_keeps_its_brackets(
    args: tuple[str, ...], hint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what an install without the train extra meets, also where another test of this process imported it
    for name in ["training", *(name for name in sys.modules if name.startswith("training."))]:
        monkeypatch.setitem(sys.modules, name, None)
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and result.stderr.startswith(hint), result.stderr


def _cells(*args: str, column: int) -> list[str]:
    """Column `column` of each row of the table `facegate ARGS` prints at 80 columns, its lines joined (a
    word longer than its column continues on the row's next lines, whose id cell is empty)."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    cells: list[str] = []
    for line in result.output.splitlines():
        if not line.startswith("│"):
            continue
        row = [cell.strip() for cell in line.split("│")[1:-1]]
        if row[0]:
            cells.append(row[column])
        else:
            cells[-1] += row[column]
    return cells


def test_a_name_longer_than_its_column_is_listed_whole(configured: Engine) -> None:
    """An operator copies a door's name from the listing into a gate's configuration."""
    dock = "north-wing-loading-dock-where-the-delivery-trucks-arrive-every-morning-before-the-shops-open"
    lab = "east-wing-second-floor-laboratory-entrance-next-to-the-freight-lift"
    with session_scope(configured) as session:
        create_door(session, name=dock)
        create_door(session, name=lab)
        rename_door(session, 2, name="lab", now=datetime.now(UTC))

    assert _cells("doors", "list", column=1) == ["lab", dock]  # listed by name
    assert _cells("doors", "list", column=2) == [lab, ""]  # its former name
