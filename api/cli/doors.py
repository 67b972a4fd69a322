"""`facegate doors`: list, register and rename doors and forget a former name, as `/doors` does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from api.cli.consoles import console, print_table
from api.cli.runtime import Limit, Offset, cli_errors, database_session
from api.schemas import DoorCreate
from storage import (
    StorageSettings,
    create_door,
    forget_former_door_name,
    list_doors_with_rules,
    rename_door,
)

doors_app = typer.Typer(
    help="Doors gates open: list them, register one before its gate first starts, rename one, forget a "
    "former name. A door with no rules admits every enrolled person (see `facegate access`).",
    no_args_is_help=True,
)

DoorId = Annotated[int, typer.Argument(help="Id of the door (`facegate doors list`).")]
DoorName = Annotated[
    str,
    typer.Argument(
        help="Door name, unique, as gates are configured with it (--door, door: in a gates file)."
    ),
]


def _say(line: str) -> None:
    console.print(line, markup=False, highlight=False)


@doors_app.command("list")
def doors_list(offset: Offset = 0, limit: Limit = 100) -> None:
    """List doors by name: id, name, former names (kept after renames) and rule count."""
    with cli_errors(), database_session(StorageSettings()) as session:
        doors, total = list_doors_with_rules(session, offset=offset, limit=limit)
    table = Table("id", "name", "former names", "rules", title=f"{total} doors")
    for door in doors:
        rules = str(len(door.rules)) if door.rules else "0 (admits every enrolled person)"
        table.add_row(str(door.id), door.name, ", ".join(door.former_names), rules)
    print_table(table)


@doors_app.command("create")
def doors_create(name: DoorName) -> None:
    """Register a door, without rules, before its gate first starts (refused if a door has or had it)."""
    with cli_errors():
        body = DoorCreate(name=name)
        with database_session(StorageSettings()) as session:
            door = create_door(session, name=body.name)
    _say(
        f"door {door.id} {door.name} created, without rules: it admits every enrolled person until it has one"
    )


@doors_app.command("rename")
def doors_rename(
    door_id: DoorId,
    new_name: DoorName,
) -> None:
    """Rename a door; its rules and device keys follow, and the old name stays its former name."""
    with cli_errors():
        body = DoorCreate(name=new_name)
        with database_session(StorageSettings()) as session:
            door = rename_door(session, door_id, name=body.name, now=datetime.now(UTC))
    if door.former_name == door.name:
        _say(f"door {door.id} is already called {door.name}")
        return
    _say(f"door {door.id} renamed from {door.former_name} to {door.name}")
    if door.audited_sources:
        _say(
            f"reconfigure the gates of these cameras, which audited under {door.former_name}: "
            + ", ".join(door.audited_sources)
        )
    if door.device_token_ids:
        _say(
            "device keys serving the door (their edge gates get the former name at their next sync): "
            + ", ".join(door.device_token_ids)
        )


@doors_app.command("forget-name")
def doors_forget_name(
    door_id: DoorId,
    name: Annotated[str, typer.Argument(help="The former name to drop (`facegate doors list`).")],
) -> None:
    """Drop a former name no event was audited under; gates no longer find the door by it."""
    with cli_errors(), database_session(StorageSettings()) as session:
        door = forget_former_door_name(session, door_id, name=name)
    former = ", ".join(door.former_names) or "none"
    _say(f"door {door.id} {door.name} no longer answers to {name}; former names: {former}")
