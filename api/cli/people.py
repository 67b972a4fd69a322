"""`facegate people`: list and delete enrolled people."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli.runtime import cli_errors, open_database
from storage import StorageSettings, delete_person, list_people, session_scope

console = Console()
people_app = typer.Typer(help="List and delete enrolled people.", no_args_is_help=True)


@people_app.command("list")
def list_command(
    offset: Annotated[int, typer.Option(min=0, help="Skip this many people.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many people.")] = 100,
) -> None:
    """List people with their number of templates."""
    with cli_errors():
        engine = open_database(StorageSettings())
        with session_scope(engine) as session:
            people, total = list_people(session, offset=offset, limit=limit)
    table = Table("id", "name", "templates", "created (UTC)", title=f"{total} people")
    for person in people:
        table.add_row(str(person.id), person.name, str(person.template_count), person.created_at.isoformat())
    console.print(table)


@people_app.command("delete")
def delete_command(person_id: Annotated[int, typer.Argument(help="Id of the person to delete.")]) -> None:
    """Delete a person and erase every template; gates drop them at their next gallery check."""
    with cli_errors():
        engine = open_database(StorageSettings())
        with session_scope(engine) as session:
            removed = delete_person(session, person_id)
    console.print(f"person {person_id} deleted, {removed} templates erased")
