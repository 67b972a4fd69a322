"""`python -m gate`: one camera from --source/--door in this process, or several from a --config file.

`facegate gate` runs this module in a child process, so the gate daemon and its camera workers (which
`spawn` re-imports the parent's main module into) never import `api`, typer or rich.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from gate.app import run_config_file, run_one_camera
from gate.config_check import check_gate_config
from gate.config_file import GATE_PREFIXES, GATE_PROCESS_SETTINGS, DaemonSettings, load_gates_file
from gate.errors import GateError
from gate.logging_format import configure_gate_logging
from recognition import RecognitionError
from storage import StorageError, unread_variables

logger = logging.getLogger(__name__)
PARENT_CHECK_S = 0.2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        help="Camera index or device path, stream URL (RTSP, HTTP, UDP, ...), video file, or image folder.",
    )
    parser.add_argument("--door", help="Name of the door this gate controls.")
    parser.add_argument("--config", type=Path, help="YAML file of several cameras (not with --source).")
    parser.add_argument("--check-config", action="store_true", help="Validate the settings, then exit.")
    parser.add_argument("--log-format", choices=["text", "json"], help="Default from the settings.")
    parser.add_argument("--verbose", "-v", action="store_true", help="Log at debug level.")
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="SIGTERM this gate when its parent process dies (how `facegate gate` runs it).",
    )
    return parser


def _print_line(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (a killed `facegate gate`) is gone; the audit log has the event
        logger.debug("stdout closed; decision line not printed")


def _watch_parent(parent_pid: int) -> None:
    """SIGTERM this process once it is reparented: an orphaned gate must not drive a door unsupervised."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)


def run(args: argparse.Namespace) -> None:
    """Validate the arguments and settings, then run the gate until its sources end or a stop signal."""
    gates = load_gates_file(args.config) if args.config is not None else None
    daemon = gates.daemon if gates is not None else DaemonSettings()
    if args.log_format is not None:
        daemon = DaemonSettings.model_validate({**daemon.model_dump(), "log_format": args.log_format})
    if args.check_config:
        _print_line(check_gate_config(gates, door=args.door))
        return
    configure_gate_logging(
        is_verbose=args.verbose,
        log_format=daemon.log_format,
        camera=None if gates else args.door,
        door=args.door,
    )
    if gates is not None:
        run_config_file(replace(gates, daemon=daemon), is_verbose=args.verbose, print_line=_print_line)
    else:
        run_one_camera(source=args.source, door=args.door, daemon=daemon, print_line=_print_line)


def main(argv: list[str] | None = None) -> int:
    """The exit code: 0, 1 after a one-line error on stderr, 2 for wrong arguments."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.config is None) == (args.source is None and args.door is None) or (
        args.config is None and None in (args.source, args.door)
    ):
        parser.error("give either --config FILE or both --source and --door")
    unread = unread_variables(os.environ, GATE_PROCESS_SETTINGS, within=GATE_PREFIXES)
    if unread:  # a typo would leave its default in force at the door
        sys.stderr.write(f"error: unknown environment variable(s) {', '.join(unread)} (a typo?)\n")
        return 1
    if args.stop_with_parent:
        threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()
    try:
        run(args)
    except (GateError, StorageError, RecognitionError, ValidationError) as exc:
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
