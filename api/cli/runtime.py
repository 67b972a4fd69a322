"""Composition root shared by the CLI commands: settings → engine, keyring, recognizer."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console

from enrollment import EnrollmentError, EnrollmentRejected, EnrollmentSettings, Photo, enroll
from gate import GateError
from recognition import RecognitionError, RecognitionSettings, Recognizer, build_recognizer
from storage import (
    Cipher,
    Engine,
    StorageError,
    StorageSettings,
    create_person,
    create_schema,
    load_keyring,
    make_engine,
    session_scope,
)

err_console = Console(stderr=True)


@dataclass(frozen=True)
class Runtime:
    """What most commands need, built once per command from the environment."""

    storage: StorageSettings
    engine: Engine
    keyring: Cipher
    recognizer: Recognizer
    enrollment: EnrollmentSettings


def open_database(storage_settings: StorageSettings) -> Engine:
    """The configured database with its tables created (the data directory too, for SQLite)."""
    storage_settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(storage_settings.resolved_database_url)
    create_schema(engine)
    return engine


def build_runtime(storage_settings: StorageSettings, *, create_key: bool = False) -> Runtime:
    """Open the database, load the keyring and the models."""
    engine = open_database(storage_settings)
    keyring = load_keyring(storage_settings, create_if_missing=create_key)
    recognizer = build_recognizer(RecognitionSettings(), cache_dir=storage_settings.home / "models")
    return Runtime(
        storage=storage_settings,
        engine=engine,
        keyring=keyring,
        recognizer=recognizer,
        enrollment=EnrollmentSettings(),
    )


def enroll_new_person(runtime: Runtime, name: str, photos: list[Photo]) -> int:
    """Create a person and enroll their photos in one transaction; returns the new person id.

    Raises:
        EnrollmentRejected: a photo fails (nothing is stored, the person included).
    """
    with session_scope(runtime.engine) as session:
        person = create_person(session, name=name)
        assert person.id is not None
        enroll(
            session,
            runtime.keyring,
            runtime.recognizer,
            person_id=person.id,
            photos=photos,
            settings=runtime.enrollment,
        )
        return person.id


def configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@contextmanager
def cli_errors() -> Iterator[None]:
    """Domain errors become one line on stderr and exit code 1 (E3)."""
    try:
        yield
    except EnrollmentRejected as exc:
        err_console.print("[red]enrollment refused, nothing was saved:[/red]")
        for problem in exc.problems:
            err_console.print(f"  {problem.photo}: {problem.reason}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    except (StorageError, RecognitionError, EnrollmentError, GateError, ValidationError) as exc:
        err_console.print(f"error: {type(exc).__name__}: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc


def image_files(paths: list[Path]) -> list[Path]:
    """Expand folders to the image files inside them (sorted), keep files as given."""
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes))
        else:
            found.append(path)
    return found
