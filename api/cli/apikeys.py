"""`facegate apikeys`: create keys for every role, list them, revoke one (F5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from api.cli.consoles import console, err_console, print_table
from api.cli.runtime import cli_errors, database_session
from storage import Role, StorageSettings, bind_device_doors, create_api_key, list_api_keys, revoke_api_key

apikeys_app = typer.Typer(
    help="Create, list and revoke API keys (admin, auditor, device).", no_args_is_help=True
)

_DURATION = re.compile(r"(\d+)([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_expiry(text: str, *, now: datetime) -> datetime:
    """`30d`, `12h`, `90m` from `now`, or an ISO 8601 date or time (UTC when it has no zone).

    Raises:
        typer.BadParameter: neither form.
    """
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        return now + timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30d, 12h, 90m) nor an ISO 8601 time"
        ) from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


@apikeys_app.command("create")
def create_command(
    role: Annotated[Role, typer.Option(help="admin, auditor (reads the audit log) or device (a gate).")],
    label: Annotated[str, typer.Option(help="Who or what holds the key (shown in `apikeys list`).")],
    expires: Annotated[
        str | None,
        typer.Option(help="Expiry: a duration from now (30d, 12h, 90m) or an ISO 8601 time; default never."),
    ] = None,
    door: Annotated[
        list[str] | None,
        typer.Option(
            "--door",
            help="A door this device key serves (repeat for several), by its name now or a former one: "
            "its gate gets the gallery of the people these doors admit, and may post only their events. "
            "A name no door has or had is refused unless --create-doors.",
        ),
    ] = None,
    create_doors: Annotated[
        bool,
        typer.Option(
            "--create-doors",
            help="Register each --door that no door has or had as a new door, without rules: it admits "
            "every enrolled person.",
        ),
    ] = False,
) -> None:
    """Create an API key and print its token once; only a digest is stored."""
    now = datetime.now(UTC)
    expires_at = parse_expiry(expires, now=now) if expires is not None else None
    doors = door or []
    if (doors or create_doors) and role is not Role.device:
        raise typer.BadParameter("--door and --create-doors are for device keys only")
    with cli_errors():
        with database_session(StorageSettings()) as session:
            token, key = create_api_key(session, role=role, label=label, now=now, expires_at=expires_at)
            bound = (
                bind_device_doors(session, key_id=key.token_id, doors=doors, create_doors=create_doors)
                if doors
                else []
            )
    console.print(
        f"{key.role} key {key.token_id} ({key.label}), expires {_when(key.expires_at)}", markup=False
    )
    if role is Role.device:
        console.print(f"doors: {', '.join(bound) or 'none (its gate gets an empty gallery)'}", markup=False)
    console.print("token (shown once, store it now):")
    console.print(token, markup=False, highlight=False)


@apikeys_app.command("list")
def list_command(
    offset: Annotated[int, typer.Option(min=0, help="Skip this many keys.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many keys.")] = 100,
) -> None:
    """List keys: id, role, label, created, last used, expiry, revoked (never a secret)."""
    with cli_errors():
        with database_session(StorageSettings()) as session:
            keys, total = list_api_keys(session, offset=offset, limit=limit)
    table = Table(title=f"{total} API keys")
    table.add_column("id", no_wrap=True, min_width=16)
    for header in ("role", "label", "created", "last used", "expires", "revoked"):
        table.add_column(header, overflow="fold")
    for key in keys:
        table.add_row(
            key.token_id,
            key.role,
            Text(key.label),  # free text: a label like `[/]` is shown, not read as markup
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.expires_at),
            _when(key.revoked_at),
        )
    print_table(table)


@apikeys_app.command("revoke")
def revoke_command(
    token_id: Annotated[str, typer.Argument(help="Id of the key, as `apikeys list` shows it.")],
) -> None:
    """Revoke a key: its next request to any running server gets 401."""
    with cli_errors():
        with database_session(StorageSettings()) as session:
            key = revoke_api_key(session, token_id, now=datetime.now(UTC))
    err_console.print(
        f"key {key.token_id} ({key.role}, {key.label}) revoked at {_when(key.revoked_at)}", markup=False
    )
