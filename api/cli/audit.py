"""`facegate audit`: verify the audit log's hash chain; export and check signed checkpoints."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from api.cli.consoles import console, err_console
from api.cli.runtime import cli_errors, database_session, operator_login
from storage import (
    ChainReport,
    Checkpoint,
    Cipher,
    Session,
    StorageSettings,
    check_acknowledged_breaks,
    check_checkpoint,
    export_checkpoint,
    load_keyring,
    parse_checkpoint,
    reanchor_checkpoint,
    verify_chain,
    verify_chain_since,
)

audit_app = typer.Typer(help="Verify the tamper-evident audit log.", no_args_is_help=True)
checkpoint_app = typer.Typer(
    help="Export and check signed checkpoints of the audit chain.", no_args_is_help=True
)
audit_app.add_typer(checkpoint_app, name="checkpoint")


@contextmanager
def _audit_log() -> Iterator[tuple[Session, Cipher]]:
    """A transaction on the configured database and the keyring; the engine is closed afterwards."""
    settings = StorageSettings()
    keyring = load_keyring(settings)
    with database_session(settings) as session:
        yield session, keyring


def _exit_if_broken(report: ChainReport) -> None:
    if not report.is_ok:
        err_console.print(report.summary(), markup=False, highlight=False)
        raise typer.Exit(1)


SinceCheckpoint = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        dir_okay=False,
        readable=True,
        help="A signed checkpoint (`facegate audit checkpoint export`; signed by a master key, its link "
        "still in the log): verify the audit chain only after it, so a break up to it does not count, and "
        "read no event up to it.",
    ),
]
"""`--since-checkpoint FILE`, the same for every command that walks the chain from a checkpoint."""


def read_checkpoint(path: Path | None) -> Checkpoint | None:
    """The checkpoint in `path`, or None without one.

    Raises:
        CheckpointInvalid: the file holds no checkpoint.
    """
    return None if path is None else parse_checkpoint(path.read_text())


@audit_app.command("verify")
def verify_command(since_checkpoint: SinceCheckpoint = None) -> None:
    """Recompute every link of the audit chain; exit 1 naming the first broken one."""
    with cli_errors():
        checkpoint = read_checkpoint(since_checkpoint)
        with _audit_log() as (session, keyring):
            if checkpoint is None:
                report = verify_chain(session, keyring)
            else:
                report = verify_chain_since(session, keyring, checkpoint)
    _exit_if_broken(report)
    console.print(report.summary(), markup=False, highlight=False)
    if checkpoint is not None:
        console.print(checkpoint.not_verified(), markup=False, highlight=False)


@checkpoint_app.command("export")
def export_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out", dir_okay=False, help="File to write the checkpoint JSON to; keep it elsewhere."
        ),
    ],
    acknowledge_break: Annotated[
        list[int] | None,
        typer.Option(
            metavar="SEQ",
            help="After an investigated break: sign anyway, acknowledging the break at SEQ (the first one "
            "as `facegate audit verify` names it; repeat for each later break). Refused unless these are "
            "exactly the chain's breaks and the events after the last one verify. Appends an "
            "audit.break_acknowledged event and signs a checkpoint of it that lists the breaks; "
            "`audit verify` still reports them.",
        ),
    ] = None,
    note: Annotated[
        str | None,
        typer.Option(
            help="With --acknowledge-break (required): what the investigation found, e.g. a ticket."
        ),
    ] = None,
) -> None:
    """Verify the chain, then write a signed checkpoint of its last event."""
    if bool(acknowledge_break) != bool(note and note.strip()):
        raise typer.BadParameter("give both or neither", param_hint="'--acknowledge-break' and '--note'")
    with cli_errors(), _replacing(out) as file:
        with _audit_log() as (session, keyring):
            now = datetime.now(UTC)
            if acknowledge_break and note:
                checkpoint = reanchor_checkpoint(
                    session,
                    keyring,
                    acknowledged=acknowledge_break,
                    acknowledged_by=operator_login(),
                    note=note.strip(),
                    now=now,
                )
            else:
                checkpoint = export_checkpoint(session, keyring, now=now)
        file.write(checkpoint.to_json())
    acknowledging = (
        f", {checkpoint.acknowledges()} (recorded as audit event {checkpoint.sequence})"
        if checkpoint.acknowledged_breaks
        else ""
    )
    console.print(
        f"checkpoint of event {checkpoint.sequence} written to {out}{acknowledging}; "
        f"signer {checkpoint.public_key_hex}",
        markup=False,
        highlight=False,
    )


@contextmanager
def _replacing(out: Path) -> Iterator[TextIO]:
    """A new file beside `out`, moved over it when the block succeeds and removed otherwise.

    Created before the database is touched: a re-anchoring commits its acknowledgement event, so a place
    its checkpoint cannot be written must be refused before, not found after.

    Raises:
        typer.BadParameter: no file can be created in `out`'s folder.
    """
    temporary = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        file = temporary.open("x")
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {out}: {exc.strerror}", param_hint="'--out'") from exc
    try:
        with file:
            yield file
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)


@checkpoint_app.command("check")
def check_command(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Checkpoint JSON written by `checkpoint export`."
        ),
    ],
    public_key: Annotated[
        str | None,
        typer.Option(
            help="Insist on this signer (hex, as printed by `checkpoint export`) instead of one of the "
            "keyring's master keys, e.g. a master key since removed from the keyring."
        ),
    ] = None,
) -> None:
    """Check a checkpoint's signer (a master key's) and signature, and that the log still holds its link;
    then verify the chain."""
    with cli_errors():
        checkpoint = parse_checkpoint(file.read_text())
        with _audit_log() as (session, keyring):
            check_checkpoint(session, keyring, checkpoint, expected_public_key_hex=public_key)
            if checkpoint.acknowledged_breaks:
                check_acknowledged_breaks(session, keyring, checkpoint)
            report = verify_chain(session, keyring)
    console.print(
        f"checkpoint holds: event {checkpoint.sequence} still has the link signed at "
        f"{checkpoint.created_at.isoformat()} by {checkpoint.public_key_hex}",
        markup=False,
        highlight=False,
    )
    if checkpoint.acknowledged_breaks:
        console.print(
            f"it was signed {checkpoint.acknowledges()}, and the chain up to it still breaks there and "
            "nowhere else; `facegate audit verify --since-checkpoint FILE` verifies the events after it",
            markup=False,
            highlight=False,
        )
    _exit_if_broken(report)
    console.print(report.summary(), markup=False, highlight=False)
