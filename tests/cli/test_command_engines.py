"""Every `facegate` command that opens the database closes its engine; on SQLite and PostgreSQL.

Commands opened an engine and never disposed of it, so its pooled connection was left to the garbage
collector: on PostgreSQL psycopg's ResourceWarning, which fails any test calling one (warnings are errors).
Every command of the typer app is either run here or listed with the reason it is not, so a new command
cannot be left out unnoticed (whether it opens the database is its author's to say).
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from tests.connections import assert_no_connection_left, named_database, open_connections
from tests.test_docs import command_paths

runner = CliRunner()
DATABASE_COMMANDS = [
    ["backup", "restore", "--data", "{data}", "--keys", "{keys}"],  # first: it needs an empty database
    ["init"],
    ["enroll", "Bob", "{photo}"],
    ["people", "list"],
    ["people", "confusable"],
    ["people", "backfill-lookalikes"],
    ["events"],
    ["keys", "status"],
    ["keys", "rotate"],
    ["keys", "rewrap"],
    ["apikeys", "create", "--role", "auditor", "--label", "north"],
    ["apikeys", "list"],
    ["apikeys", "revoke", "{token_id}"],
    ["doors", "create", "front"],
    ["doors", "rename", "1", "lobby"],
    ["doors", "forget-name", "1", "front"],
    ["doors", "list"],
    ["access", "group", "create", "staff"],
    ["access", "group", "add-member", "1", "1"],
    ["access", "group", "list"],
    ["access", "group", "remove-member", "1", "1"],
    ["access", "rule", "add", "--door", "lab", "--group-id", "1", "--day", "mon", "--start", "08:00",
     "--end", "17:00", "--create-door"],
    ["access", "rule", "list", "--door", "lab"],
    ["access", "rule", "delete", "1", "--allow-open-doors"],  # lab's only rule
    ["access", "group", "delete", "1"],
    ["gate", "--source", "0", "--door", "lab", "--check-config"],  # a gate itself runs in a child process
    ["audit", "verify"],
    ["audit", "checkpoint", "export", "--out", "{checkpoint}"],
    ["audit", "checkpoint", "check", "{checkpoint}"],
    ["maintenance", "purge"],
    ["backup", "create", "--out", "{out}"],
    ["people", "delete", "2"],
    ["serve"],  # uvicorn.run does nothing here: the command opens, hands over and closes the database
]  # fmt: skip
"""One run of each, in this order on one database; `{name}`s are filled in from the runs before."""


def _backup_of_one_person(home: Path, photo: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A data and a key backup of Alice, made in a home (and SQLite file) of its own, for `backup restore`."""
    with monkeypatch.context() as source:
        source.setenv("FACEGATE_HOME", str(home))
        for command in (["init"], ["enroll", "Alice", str(photo)], ["backup", "create", "--out", str(home)]):
            assert runner.invoke(app, command).exit_code == 0, command
    return {"data": str(next(home.glob("facegate-data-*"))), "keys": str(next(home.glob("facegate-keys-*")))}


def test_every_database_command_leaves_no_connection_open(
    database_url: str, tmp_path: Path, group_faces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(group_faces[0])
    values = _backup_of_one_person(tmp_path / "source", photo, monkeypatch)
    values |= {"photo": str(photo), "checkpoint": str(tmp_path / "checkpoint.json"), "out": str(tmp_path)}
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)  # the server's process boundary
    gc.collect()
    try:
        for command in DATABASE_COMMANDS:
            # What survived the last collection is alive: frozen, so that each collection reads only what
            # the command since made (a full one over the test process's heap took seconds each time).
            gc.freeze()
            result = runner.invoke(app, [argument.format(**values) for argument in command])
            assert result.exit_code == 0, (command, result.output)
            gc.collect()  # an engine left open is collected here: its connection's warning fails this test
            token = re.search(r"fg_([^_\s]+)_", result.output)  # `init` and `apikeys create` print one
            if token is not None:
                values["token_id"] = token[1]
    finally:
        gc.unfreeze()


def test_a_command_refused_after_opening_the_database_closes_it_too(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_DATABASE_URL", database_url)
    result = runner.invoke(app, ["enroll", "Nobody", str(tmp_path / "missing.jpg")])
    assert result.exit_code == 1 and "no master key" in result.output, result.output
    gc.collect()  # the engine opened before the keyring was found missing is collected here


NO_DATABASE_COMMANDS = {
    "train": "models and photos only",
    "eval lfw": "models and photos only",
    "eval identify": "models and photos only",
    "eval pad": "models and photos only",
    "models list": "model files only",
    "models calibrate": "model files and photos only",
    "pad export": "model files only",
    "pad calibrate": "model files and photos only",
    "pad make-attacks": "photos only",
}
"""Commands that never open the database, and why."""
NOT_RUN_HERE = {
    "demo": "opens only its own SQLite under FACEGATE_HOME/demo, through open_runtime; "
    "tests/cli/test_commands.py runs it (slow: it runs the gate on a video)",
    "pad calibrate-door": "needs the PAD model converted with torch (the `train` extra); opens the database "
    "through database_engine; tests/cli/test_pad_calibrate_door.py runs it",
}
"""Commands that open the database but are not run above, and why."""


def test_every_command_is_run_above_or_says_why_not() -> None:
    """A new command says whether it opens the database: a run in DATABASE_COMMANDS, or why not."""
    paths = {path for path, _ in command_paths()}
    run = {
        path
        for path in paths
        if any(command[: len(path.split())] == path.split() for command in DATABASE_COMMANDS)
    }
    unlisted = paths - run - NO_DATABASE_COMMANDS.keys() - NOT_RUN_HERE.keys()
    assert not unlisted, (
        f"add to DATABASE_COMMANDS (it opens the database) or NO_DATABASE_COMMANDS: {unlisted}"
    )
    assert not run & (NO_DATABASE_COMMANDS.keys() | NOT_RUN_HERE.keys())
    assert NO_DATABASE_COMMANDS.keys() | NOT_RUN_HERE.keys() <= paths, "a listed command no longer exists"


def _wait_until(condition: Callable[[], bool], what: str, *, timeout_s: float = 60.0) -> None:
    deadline_s = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline_s, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_serve_closes_its_engine_once_the_apps_lifespan_has_ended(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's lifespan (gallery load, LISTEN feed, requests) runs as uvicorn would run it; the engine is
    the command's (the composition root's) to close, not the app's: tests' apps share their fixture's."""
    url, name = named_database(database_url, "fg-serve")
    monkeypatch.setenv("FACEGATE_DATABASE_URL", url)
    assert runner.invoke(app, ["init"]).exit_code == 0
    served: list[int] = []

    def serve(asgi: FastAPI, **_options: object) -> None:
        with TestClient(asgi) as client:  # startup and shutdown: the lifespan's gallery load and close
            _wait_until(lambda: client.get("/readyz").status_code == 200, "the gallery to load")
            served.append(open_connections(database_url, name))

    monkeypatch.setattr(uvicorn, "run", serve)
    result = runner.invoke(app, ["serve"])

    assert result.exit_code == 0 and served and served[0] >= 1, (result.output, served)
    assert_no_connection_left(database_url, name)
