"""`facegate backup`: write and restore a data backup and a separate key backup."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.consoles import console
from api.cli.runtime import cli_errors, database_engine
from storage import (
    KeyFileMerge,
    StorageSettings,
    backup_keys_not_configured,
    backup_master_keys,
    check_restore_target,
    create_backup,
    key_file_keys,
    keys_come_from_key_file,
    load_keyring,
    restore_backup,
    restore_keyring,
)

backup_app = typer.Typer(help="Back up and restore the database and its keys.", no_args_is_help=True)


@backup_app.command("create")
def create_command(
    out: Annotated[Path, typer.Option(help="Directory for the two backup files.")],
) -> None:
    """Write a data backup and a key backup (both 0600); store them in different places."""
    with cli_errors():
        settings = StorageSettings()
        master_keys = key_file_keys(settings)
        cipher = load_keyring(settings)
        with database_engine(settings) as engine:
            files = create_backup(engine, out, master_keys=master_keys, cipher=cipher)
    rows = ", ".join(f"{table} {count}" for table, count in files.rows.items() if count)
    console.print(f"data backup: {files.data}", markup=False, highlight=False)
    console.print(f"key backup:  {files.keys}", markup=False, highlight=False)
    console.print(f"rows: {rows or 'none'}")
    if master_keys is None:
        console.print("the master key comes from FACEGATE_MASTER_KEY or a KMS and is not in the key backup")


@backup_app.command("restore")
def restore_command(
    data: Annotated[Path, typer.Option(help="The data backup file (facegate-data-*.jsonl).")],
    keys: Annotated[Path, typer.Option(help="The key backup file (facegate-keys-*.jsonl).")],
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            help="Also restore a backup written before backups were authenticated (v2, v1), which anyone "
            "who could write it could have changed.",
        ),
    ] = False,
) -> None:
    """Restore into an empty database; people erased after the data backup are not brought back."""
    with cli_errors():
        settings = StorageSettings()
        backup_keys = backup_master_keys(keys)
        cipher = restore_keyring(settings, backup_keys)
        held = set(cipher.key_ids)
        not_configured = backup_keys_not_configured(settings, backup_keys)
        with database_engine(settings) as engine, KeyFileMerge(settings, backup_keys) as merge:
            check_restore_target(engine, data=data, keys=keys)
            # The keys are added last in the restore's transaction: a key file that cannot be written
            # rolls the restore back (added after its commit, the data was restored and no key opened
            # it), and a restore that fails before its commit, or at it, leaves the key file as it was
            # (added before the restore, a backup swapped during it left the key file holding another
            # installation's master keys and nothing restored).
            report = restore_backup(
                engine,
                data=data,
                keys=keys,
                cipher=cipher,
                master_key_ids=held,
                allow_unauthenticated=allow_unauthenticated,
                before_commit=merge.write,
            )
        added = merge.added
    rows = ", ".join(f"{table} {count}" for table, count in report.rows.items() if count)
    console.print(f"restored: {rows or 'nothing'}")
    if report.unauthenticated_formats:
        console.print(
            f"restored without authentication ({', '.join(report.unauthenticated_formats)}, "
            "--allow-unauthenticated): nothing vouches that the backup is as it was written",
            markup=False,
        )
    if added:
        console.print(f"{added} master keys added to {settings.resolved_key_file}", markup=False)
    if backup_keys and not keys_come_from_key_file(settings):
        _print_keys_left_out(len(backup_keys), not_configured)
    if report.erased_people:
        console.print(
            f"{len(report.erased_people)} people erased after the data backup were left out "
            f"({report.templates_not_restored} templates): their data keys no longer exist"
        )


def _print_keys_left_out(count: int, not_configured: list[str]) -> None:
    console.print(
        f"the master keys come from FACEGATE_MASTER_KEY or a KMS: the key backup's {count} master keys "
        "were not written to a key file (no process would read it)",
        markup=False,
    )
    if not_configured:
        console.print(
            f"master keys {', '.join(not_configured)} of the key backup are not configured here: add them "
            "to FACEGATE_MASTER_KEY, after the encrypting key, for the audit events and checkpoints they "
            "chained or signed to verify",
            markup=False,
        )
