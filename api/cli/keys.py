"""`facegate keys`: master-key rotation without downtime (data keys are re-wrapped, templates untouched)."""

from __future__ import annotations

import typer
from rich.table import Table

from api.cli.consoles import console, print_table
from api.cli.runtime import cli_errors, database_session
from storage import (
    StorageSettings,
    add_key_to_file,
    load_keyring,
    master_key_usage,
    rewrap_person_keys,
)

keys_app = typer.Typer(help="Rotate and inspect master keys.", no_args_is_help=True)


def _rewrap(settings: StorageSettings) -> None:
    cipher = load_keyring(settings)
    with database_session(settings) as session:
        changed = rewrap_person_keys(session, cipher)
    console.print(f"re-wrapped {changed} person data keys under master key {cipher.primary_key_id}")


@keys_app.command("rotate")
def rotate_command() -> None:
    """Add a new master key to the key file and re-wrap every data key under it.

    Running gates and API servers pick the new key file up by themselves. Older keys stay in the
    file, decrypt-only: they still verify the audit events they signed.
    """
    with cli_errors():
        settings = StorageSettings()
        new_key_id = add_key_to_file(settings)
        console.print(
            f"new master key {new_key_id} added to {settings.resolved_key_file} "
            "(should this command stop before it re-wraps, `facegate keys rewrap` finishes)",
            markup=False,
        )
        _rewrap(settings)


@keys_app.command("rewrap")
def rewrap_command() -> None:
    """Re-wrap every data key under the first configured master key (after changing FACEGATE_MASTER_KEY)."""
    with cli_errors():
        _rewrap(StorageSettings())


@keys_app.command("status")
def status_command() -> None:
    """Show how many person data keys each master key wraps."""
    with cli_errors():
        settings = StorageSettings()
        cipher = load_keyring(settings)
        with database_session(settings) as session:
            usage = master_key_usage(session)
    table = Table("master key id", "role", "data keys wrapped", title="master keys")
    for key_id in dict.fromkeys([*cipher.key_ids, *usage]):
        if key_id not in cipher.key_ids:
            role = "missing"
        else:
            role = "encrypts" if key_id == cipher.primary_key_id else "decrypt-only"
        table.add_row(key_id, role, str(usage.get(key_id, 0)))
    print_table(table)
    behind = sum(count for key_id, count in usage.items() if key_id != cipher.primary_key_id)
    if behind:  # a rotation stopped before its re-wrap committed (killed), or a key put first by hand
        console.print(
            f"{behind} data keys are not under the encrypting key: `facegate keys rewrap` re-wraps them "
            "(a rotation that stopped half-way finishes this way; running `keys rotate` again adds yet "
            "another key)",
            markup=False,
        )
