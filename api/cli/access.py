"""`facegate access`: groups, members and weekly door rules, which gates load with the gallery."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.consoles import console, print_table
from api.cli.runtime import cli_errors, database_session
from storage import (
    AccessGroupPublic,
    DoorRuleCreate,
    StorageSettings,
    Weekday,
    add_member,
    create_door_rule,
    create_group,
    delete_door_rule,
    delete_group,
    list_door_rules,
    list_groups,
    remove_member,
)

access_app = typer.Typer(
    help="Who may pass which door when: groups of people and weekly door rules. A door with no rules "
    "admits every enrolled person; once it has one, only its rules admit.",
    no_args_is_help=True,
)
group_app = typer.Typer(help="Create, list and delete groups; add and remove members.", no_args_is_help=True)
rule_app = typer.Typer(help="Add, list and delete weekly door rules.", no_args_is_help=True)
access_app.add_typer(group_app, name="group")
access_app.add_typer(rule_app, name="rule")

GroupId = Annotated[int, typer.Argument(help="Id of the group.")]
PersonId = Annotated[int, typer.Argument(help="Id of the person.")]
AllowOpenDoors = Annotated[
    bool,
    typer.Option(
        "--allow-open-doors",
        help="Delete even the last rules of a door, which then admits every enrolled person at any time "
        "(without it such a deletion is refused, exit 1, and deletes nothing).",
    ),
]


def _print_group(group: AccessGroupPublic) -> None:
    members = ", ".join(str(person_id) for person_id in group.member_ids) or "no members"
    console.print(f"group {group.id} {group.name}: {members}", markup=False, highlight=False)


@group_app.command("create")
def group_create(name: Annotated[str, typer.Argument(help="Unique group name.")]) -> None:
    """Create an empty group."""
    with cli_errors(), database_session(StorageSettings()) as session:
        group = create_group(session, name=name)
    _print_group(group)


@group_app.command("list")
def group_list(
    offset: Annotated[int, typer.Option(min=0, help="Skip this many groups.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many groups.")] = 100,
) -> None:
    """List groups with their members' person ids."""
    with cli_errors(), database_session(StorageSettings()) as session:
        groups, total = list_groups(session, offset=offset, limit=limit)
    table = Table("id", "name", "members (person ids)", title=f"{total} groups")
    for group in groups:
        table.add_row(str(group.id), group.name, ", ".join(map(str, group.member_ids)))
    print_table(table)


@group_app.command("delete")
def group_delete(group_id: GroupId, allow_open_doors: AllowOpenDoors = False) -> None:
    """Delete a group with its memberships and door rules; refused where they are a door's last rules."""
    with cli_errors(), database_session(StorageSettings()) as session:
        delete_group(session, group_id, allow_open_doors=allow_open_doors)
    console.print(f"group {group_id} deleted")


@group_app.command("add-member")
def group_add_member(group_id: GroupId, person_id: PersonId) -> None:
    """Put a person in a group."""
    with cli_errors(), database_session(StorageSettings()) as session:
        group = add_member(session, group_id=group_id, person_id=person_id)
    _print_group(group)


@group_app.command("remove-member")
def group_remove_member(group_id: GroupId, person_id: PersonId) -> None:
    """Take a person out of a group."""
    with cli_errors(), database_session(StorageSettings()) as session:
        group = remove_member(session, group_id=group_id, person_id=person_id)
    _print_group(group)


@rule_app.command("add")
def rule_add(
    door: Annotated[
        str,
        typer.Option(
            help="Door name, as the gate's --door, now or a former one (the rule goes to the door it names "
            "now). A name no door has or had is refused unless --create-door."
        ),
    ],
    group_id: Annotated[int, typer.Option(help="Group whose members this rule admits.")],
    days: Annotated[list[Weekday], typer.Option("--day", help="Weekday the window opens (repeat).")],
    start: Annotated[str, typer.Option(help="Local start time HH:MM (inclusive).")],
    end: Annotated[str, typer.Option(help="Local end time HH:MM (exclusive; 24:00 for midnight).")],
    timezone: Annotated[str, typer.Option(help="IANA time zone the times are in.")] = "UTC",
    create_door: Annotated[
        bool,
        typer.Option(
            "--create-door",
            help="Register --door if no door has or had that name (a misspelt name would get the rule, "
            "and the door meant would stay without it).",
        ),
    ] = False,
) -> None:
    """Admit a group at a door on a weekly window (an overnight shift is two rules)."""
    with cli_errors():
        rule = DoorRuleCreate(
            door=door,
            create_door=create_door,
            group_id=group_id,
            weekdays=days,
            start=start,
            end=end,
            timezone=timezone,
        )
        with database_session(StorageSettings()) as session:
            created = create_door_rule(session, rule)
    console.print(f"rule {created.id} added to door {created.door}", markup=False, highlight=False)


@rule_app.command("list")
def rule_list(
    door: Annotated[
        str | None,
        typer.Option(help="Only this door's rules, the door named by its name now or a former one."),
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many rules.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many rules.")] = 100,
) -> None:
    """List door rules."""
    with cli_errors(), database_session(StorageSettings()) as session:
        rules, total = list_door_rules(session, door=door, offset=offset, limit=limit)
    table = Table("id", "door", "group", "days", "from", "to", "time zone", title=f"{total} door rules")
    for rule in rules:
        days = ",".join(day.value for day in rule.weekdays)
        table.add_row(str(rule.id), rule.door, str(rule.group_id), days, rule.start, rule.end, rule.timezone)
    print_table(table)


@rule_app.command("delete")
def rule_delete(
    rule_id: Annotated[int, typer.Argument(help="Id of the rule.")], allow_open_doors: AllowOpenDoors = False
) -> None:
    """Delete one door rule; refused when it is its door's last (the door would admit everyone)."""
    with cli_errors(), database_session(StorageSettings()) as session:
        delete_door_rule(session, rule_id, allow_open_doors=allow_open_doors)
    console.print(f"rule {rule_id} deleted")
