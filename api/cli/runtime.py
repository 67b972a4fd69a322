"""Composition root shared by the CLI commands: settings → engine, keyring, recognizer."""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO

import typer
from pydantic import ValidationError

from api.cli.consoles import err_console
from api.cli.one_line import print_error_line, validation_line
from enrollment import EnrollmentError, EnrollmentRejected, EnrollmentSettings, Photo
from enrollment import enroll_new_person as create_and_enroll
from gate import GateError, GateRuntime, build_gate_runtime
from recognition import (
    PresentationAttackDetector,
    RecognitionError,
    RecognitionSettings,
    build_pad_detector,
    image_suffixes,
)
from storage import Engine, Session, StorageError, StorageSettings, open_database, session_scope

__all__ = [
    "Limit",
    "Offset",
    "Runtime",
    "build_runtime",
    "cli_errors",
    "configure_logging",
    "database_engine",
    "database_session",
    "enroll_new_person",
    "image_files",
    "log_warnings_to_stderr",
    "open_runtime",
    "operator_login",
]

Offset = Annotated[int, typer.Option(min=0, help="Skip this many rows of the list.")]
"""A list command's --offset."""
Limit = Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many rows.")]
"""A list command's --limit."""


@dataclass(frozen=True)
class Runtime(GateRuntime):
    """What most commands need, built once per command from the environment: the gate's, plus enrollment."""

    enrollment: EnrollmentSettings
    pad: PresentationAttackDetector | None = None
    """Built when enrollment's PAD policy is enforce: attack photos are refused."""


@contextmanager
def database_engine(storage_settings: StorageSettings) -> Iterator[Engine]:
    """The configured database for one command; its engine is closed afterwards.

    A command's engine left open keeps its pooled connection until the garbage collector finds it, and
    then psycopg warns that a PostgreSQL connection was deleted while still open (a test's error).
    """
    engine = open_database(storage_settings)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def database_session(storage_settings: StorageSettings) -> Iterator[Session]:
    """One transaction on the configured database; the engine is closed afterwards."""
    with database_engine(storage_settings) as engine, session_scope(engine) as session:
        yield session


@contextmanager
def open_runtime(storage_settings: StorageSettings, *, create_key: bool = False) -> Iterator[Runtime]:
    """`build_runtime` for one command; its engine is closed afterwards, as `database_engine`'s."""
    runtime = build_runtime(storage_settings, create_key=create_key)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()


def build_runtime(storage_settings: StorageSettings, *, create_key: bool = False) -> Runtime:
    """Load the models, open the database and load the keyring; the caller closes `engine`."""
    enrollment = EnrollmentSettings()
    pad = None
    if enrollment.pad_policy == "enforce":
        pad = build_pad_detector(RecognitionSettings(), cache_dir=storage_settings.home / "models")
    parts = build_gate_runtime(storage_settings, create_key=create_key)  # the last step: no engine left open
    return Runtime(
        storage=parts.storage,
        engine=parts.engine,
        keyring=parts.keyring,
        recognizer=parts.recognizer,
        enrollment=enrollment,
        pad=pad,
    )


def enroll_new_person(runtime: Runtime, name: str, photos: list[Photo]) -> int:
    """Create a person and enroll their photos in one transaction; returns the new person id.

    Raises:
        EnrollmentRejected: a photo fails (nothing is stored, the person included).
    """
    with session_scope(runtime.engine) as session:
        person_id, _ = create_and_enroll(
            session,
            runtime.keyring,
            runtime.recognizer,
            name=name,
            photos=photos,
            settings=runtime.enrollment,
            pad=runtime.pad,
        )
        return person_id


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
"""How `facegate serve` and the commands with --verbose write a log record; the other commands too."""


def configure_logging(*, verbose: bool) -> None:
    """A long-running command's logging: warnings and up (debug when verbose) to stderr, in LOG_FORMAT.

    Replaces the handler every command starts with (`log_warnings_to_stderr`), so that the records this
    command logs are written once, at the level asked for.
    """
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _CommandLogHandler)]:
        root.removeHandler(handler)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format=LOG_FORMAT)


class _OneLineFormatter(logging.Formatter):
    """LOG_FORMAT as one line: a message's own line breaks and an exception become `; `-joined parts."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        line = self.formatMessage(record)
        if record.exc_info and record.exc_info[1] is not None:
            line += f"; {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        parts = (part.strip() for part in line.splitlines())
        return "; ".join(part for part in parts if part)


class _CommandLogHandler(logging.StreamHandler[TextIO]):
    """A command's stderr (the one it runs with, which a test runner swaps) for warnings and up.

    A record logged with `extra={"is_raised_to_caller": True}` is left out: the same event reaches the
    command as the error it raises, and `cli_errors` prints that error (one report per event).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setLevel(logging.WARNING)
        self.setFormatter(_OneLineFormatter())

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "is_raised_to_caller", False) and bool(super().filter(record))


def log_warnings_to_stderr() -> Callable[[], None]:
    """Every command's logging until it configures its own: each warning and error record, FaceGate's or a
    library's, as one line on stderr in LOG_FORMAT (`WARNING storage.file_modes: ...`), not Python's
    last-resort handler's bare message. Returns the function that removes the handler again.
    """
    handler = _CommandLogHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    return lambda: root.removeHandler(handler)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Domain errors become one line on stderr and exit code 1 (E3)."""
    try:
        yield
    except EnrollmentRejected as exc:
        err_console.print("enrollment refused, nothing was saved:", style="red")
        for problem in exc.problems:
            err_console.print(f"  {problem.photo}: {problem.reason}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    except ValidationError as exc:
        print_error_line(f"error: {validation_line(exc)}")
        raise typer.Exit(1) from exc
    except (StorageError, RecognitionError, EnrollmentError, GateError) as exc:
        print_error_line(f"error: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc


def operator_login() -> str:
    """The login name an audit event of a command records (a re-anchoring, an erasure); 'unknown' where the
    system has none (a container's uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def image_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Expand folders to the image files inside them (sorted), keep files as given; also the other
    entries of those folders, left out (hidden ones not counted)."""
    found: list[Path] = []
    left_out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for entry in sorted(path.iterdir()):
            if entry.suffix.lower() in image_suffixes():
                found.append(entry)
            elif not entry.name.startswith("."):
                left_out.append(entry)
    return found, left_out
