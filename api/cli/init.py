"""`facegate init`: data directory, master key, database and the first admin API key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from api.cli.consoles import console
from api.cli.runtime import cli_errors, open_runtime
from storage import Role, StorageSettings, create_api_key, has_api_key, session_scope


def init(
    label: Annotated[str, typer.Option(help="Label of the admin API key.")] = "first admin",
) -> None:
    """Create the data directory, key file (0600), database and print an admin API key once."""
    with cli_errors():
        settings = StorageSettings()
        with open_runtime(settings, create_key=True) as runtime, session_scope(runtime.engine) as session:
            now = datetime.now(UTC)
            if has_api_key(session, role=Role.admin, now=now):
                token = None
            else:
                token, _ = create_api_key(session, role=Role.admin, label=label, now=now)
    console.print(f"data directory: {settings.home}")
    console.print(f"database: {settings.resolved_database_url}")
    key_source = "FACEGATE_MASTER_KEY" if settings.master_key else str(settings.resolved_key_file)
    console.print(f"master key: {key_source} (key id {runtime.keyring.primary_key_id})")
    if token is None:
        console.print("an admin API key already exists; none was created")
        return
    console.print("admin API key (shown once, store it now):")
    console.print(token, markup=False, highlight=False)
