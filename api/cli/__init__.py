"""The `facegate` command line: one module per command group."""

from __future__ import annotations

import os

import typer

from api.cli.access import access_app
from api.cli.apikeys import apikeys_app
from api.cli.audit import audit_app
from api.cli.backup import backup_app
from api.cli.demo import demo_command
from api.cli.doors import doors_app
from api.cli.enroll import enroll_command
from api.cli.environment import unread_variables
from api.cli.eval import eval_app
from api.cli.events import events_command
from api.cli.gate import gate_command
from api.cli.init import init
from api.cli.keys import keys_app
from api.cli.maintenance import maintenance_app
from api.cli.models import models_app
from api.cli.one_line import OneLineErrorsGroup, print_error_line
from api.cli.pad import pad_app
from api.cli.pad_attacks import make_attacks_command
from api.cli.pad_door import calibrate_door_command
from api.cli.pad_eval import eval_pad_command
from api.cli.people import people_app
from api.cli.runtime import log_warnings_to_stderr
from api.cli.serve import serve_command
from api.cli.train import train_command

app = typer.Typer(
    name="facegate",
    help="Self-hosted face-recognition access control.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrorsGroup,
)


@app.callback()
def _start_command(ctx: typer.Context) -> None:
    """Log warnings to stderr for the command's run (serve and the --verbose ones replace that with
    their own configuration); stop before any command when a FACEGATE_* variable is one no settings
    class reads (a typo)."""
    ctx.call_on_close(log_warnings_to_stderr())
    unread = unread_variables(os.environ)
    if unread:
        print_error_line(f"error: unknown environment variable(s) {', '.join(unread)} (a typo?)")
        raise typer.Exit(1)


app.command("init")(init)
app.command("enroll")(enroll_command)
app.add_typer(people_app, name="people")
app.add_typer(doors_app, name="doors")
app.add_typer(access_app, name="access")
app.add_typer(keys_app, name="keys")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(backup_app, name="backup")
app.add_typer(maintenance_app, name="maintenance")
app.command("gate")(gate_command)
app.command("serve")(serve_command)
app.command("events")(events_command)
app.add_typer(audit_app, name="audit")
app.command("demo")(demo_command)
eval_app.command("pad")(eval_pad_command)
app.add_typer(eval_app, name="eval")
app.command("train")(train_command)
app.add_typer(models_app, name="models")
pad_app.command("make-attacks")(make_attacks_command)
pad_app.command("calibrate-door")(calibrate_door_command)
app.add_typer(pad_app, name="pad")


def main() -> None:
    app()


__all__ = ["app", "main"]
