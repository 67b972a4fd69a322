"""Rich table of audit events, shared by `facegate events` and `facegate demo`."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from storage import AuditEventPublic


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def events_table(events: list[AuditEventPublic], *, title: str) -> Table:
    """The events as a table; every cell is plain text (a door named `[/]` is shown, not read as markup)."""
    columns = (
        "id",
        "time (UTC)",
        "door",
        "track",
        "decision",
        "reason",
        "person",
        "score",
        "thresh.",
        "model",
    )
    table = Table(*columns, title=title)
    for event in events:
        cells = (
            str(event.id),
            event.occurred_at.strftime("%m-%d %H:%M:%S"),
            event.door,
            "-" if event.track_id is None else str(event.track_id),
            event.decision.value,
            event.reason,
            "-" if event.person_id is None else str(event.person_id),
            _number(event.score),
            _number(event.threshold),
            event.model_id,
        )
        table.add_row(*(Text(cell) for cell in cells))
    return table
