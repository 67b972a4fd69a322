"""Every CLI command is listed in the README and has help text (I3)."""

from __future__ import annotations

from typing import Any

import typer.main

from api.cli import app
from tests.data import REPO_ROOT


def command_paths(command: Any = None, prefix: str = "") -> list[tuple[str, str | None]]:
    """(path, help) of every leaf command, nested groups included (`audit checkpoint export`)."""
    command = command if command is not None else typer.main.get_command(app)
    paths = []
    for name, child in command.commands.items():
        if getattr(child, "commands", None):
            paths.extend(command_paths(child, f"{prefix}{name} "))
        else:
            paths.append((f"{prefix}{name}", child.help))
    return paths


def test_every_command_is_in_the_readme_with_help_text() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    paths = command_paths()
    assert {
        "init",
        "enroll",
        "people list",
        "people delete",
        "gate",
        "serve",
        "events",
        "audit verify",
        "audit checkpoint export",
        "audit checkpoint check",
        "demo",
    } <= {p for p, _ in paths}
    for path, help_text in paths:
        assert f"`facegate {path}" in readme, f"facegate {path} is missing from the README"
        assert help_text and help_text.strip(), f"facegate {path} has no help text"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("```")[1]
    commands = [
        line.split("#")[0].strip() for line in block.splitlines() if line.strip() and line.strip() != "sh"
    ]
    assert commands == ["make demo", "make test"]
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "\nmake demo\n" in ci and "\nmake test\n" in ci
