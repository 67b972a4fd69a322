"""`facegate events`: query the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from api.cli.consoles import print_table
from api.cli.events_table import events_table
from api.cli.runtime import cli_errors, database_session
from storage import Decision, EventFilter, StorageSettings, query_events


def events_command(
    door: Annotated[
        str | None, typer.Option(help="Only this door, under each name it has had (a former one too).")
    ] = None,
    person_id: Annotated[int | None, typer.Option(help="Only this person id.")] = None,
    decision: Annotated[
        Decision | None,
        typer.Option(help="Only granted, denied, or recorded (the audit log's own events and erasures)."),
    ] = None,
    since: Annotated[datetime | None, typer.Option(help="From this UTC time (inclusive).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Up to this UTC time (exclusive).")] = None,
    event_uid: Annotated[
        str | None, typer.Option(help="Only the event with this event_uid (a door unlock's unlock_id).")
    ] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many events (newest first).")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many events.")] = 50,
) -> None:
    """Show audit events, newest first."""
    with cli_errors(), database_session(StorageSettings()) as session:
        events, total = query_events(
            session,
            where=EventFilter(
                door=door,
                person_id=person_id,
                decision=decision,
                since=since,
                until=until,
                event_uid=event_uid,
            ),
            offset=offset,
            limit=limit,
        )
    print_table(events_table(events, title=f"{len(events)} of {total} events"))
