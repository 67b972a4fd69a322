"""`facegate maintenance`: upkeep that `facegate serve` otherwise does on its own, run once now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer

from api.cli.consoles import console
from api.cli.runtime import cli_errors, database_engine
from api.idempotency_purge import IdempotencyPurger
from api.settings import ApiSettings
from storage import StorageSettings

maintenance_app = typer.Typer(
    help="Upkeep that a running `facegate serve` does on its own, run once now.", no_args_is_help=True
)


@maintenance_app.command("purge")
def purge_command() -> None:
    """Delete the idempotency answers older than FACEGATE_API_IDEMPOTENCY_RETENTION_S now, as the server's
    own purge does: for a site whose server runs only now and then, or before a backup."""
    now = datetime.now(UTC)
    with cli_errors():
        retention_s = ApiSettings().idempotency_retention_s
        with database_engine(StorageSettings()) as engine:
            purged = IdempotencyPurger(engine, retention_s=retention_s, clock=lambda: now).purge_expired()
    before = now - timedelta(seconds=retention_s)
    console.print(f"deleted {purged} idempotency answers recorded before {before:%Y-%m-%d %H:%M:%S} UTC")
    console.print(f"retention: {retention_s} s (FACEGATE_API_IDEMPOTENCY_RETENTION_S)", highlight=False)
