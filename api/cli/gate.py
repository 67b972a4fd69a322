"""`facegate gate`: a thin wrapper that runs the gate's own entry point, `python -m gate`.

The gate runs in a child process so that neither it nor its camera workers (which `spawn` re-imports
the parent's main module into) import `api`, typer or rich; this process relays its decision lines.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, TextIO

import typer

from api.cli.consoles import console
from api.cli.runtime import cli_errors
from gate import check_gate_config, load_gates_file


def _relay(lines: TextIO, out: TextIO) -> None:
    """Copy the lines (the gate's log) as they come; this process's stderr may be a test's capture."""
    for line in lines:
        out.write(line)
        out.flush()


def _run_gate_process(arguments: list[str]) -> int:
    """Run `python -m gate ARGUMENTS`, relay its stdout and stderr lines, pass SIGTERM on; its exit code.

    `-P`: the gate is imported from the installation, never from a `gate` folder in the working directory.
    """
    with subprocess.Popen(
        [sys.executable, "-P", "-m", "gate", "--stop-with-parent", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    ) as child:
        previous_term = signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child's group too
        assert child.stdout is not None and child.stderr is not None
        errors = threading.Thread(target=_relay, args=(child.stderr, sys.stderr), name="gate-stderr")
        errors.start()
        try:
            for line in child.stdout:
                console.print(line.rstrip("\n"), markup=False, highlight=False)
            errors.join()
            return child.wait()
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            signal.signal(signal.SIGINT, previous_int)


def gate_command(
    source: Annotated[
        str | None,
        typer.Option(
            help="Camera index or device path, stream URL (RTSP, HTTP, UDP, ...), video file, or folder of "
            "images (in name order)."
        ),
    ] = None,
    door: Annotated[str | None, typer.Option(help="Name of the door this gate controls.")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="YAML file of several cameras (instead of --source/--door); see the README."),
    ] = None,
    check_config: Annotated[
        bool, typer.Option("--check-config", help="Validate the settings (and --config file), then exit.")
    ] = False,
    log_format: Annotated[
        str | None, typer.Option(help="`text` or `json` (one object a line); default from the settings.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    """Run the gate: detect, match, decide k-of-n per track, audit every decision; /metrics and /healthz."""
    with cli_errors():
        if (config is None) == (source is None and door is None) or (
            config is None and None in (source, door)
        ):
            raise typer.BadParameter("give either --config FILE or both --source and --door")
        if check_config:
            line = check_gate_config(load_gates_file(config) if config is not None else None, door=door)
            console.print(line, markup=False, highlight=False)
            return
    arguments = [f"--config={config}"] if config is not None else [f"--source={source}", f"--door={door}"]
    arguments += [f"--log-format={log_format}"] if log_format is not None else []
    arguments += ["--verbose"] if verbose else []
    code = _run_gate_process(arguments)
    if code != 0:
        raise typer.Exit(code if code > 0 else 128 - code)
