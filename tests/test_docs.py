"""Every CLI command is listed in the README and has help text (I3); so is every setting, and every
variable the README gives is one a setting reads."""

from __future__ import annotations

import re
from typing import Any

import typer.main

from api.cli import app
from api.cli.environment import SETTINGS_CLASSES, unread_variables
from storage import read_variables
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


TYPO_EXAMPLES = {
    "FACEGATE_DATABSE_URL",
    "FACEGATE_API_PROT",
    "FACEGATE_GATE_DECISON__COOLDOWN_S",
    "FACEGATE_GATE_DOOR__TPOIC",
}
"""Misspelt names the README gives as what a command refuses."""


def readme_variables(readme: str) -> set[str]:
    """Every `FACEGATE_*` name the README gives, a short form (`FACEGATE_X_RETRY_INITIAL_S` / `…_RETRY_MAX_S`)
    expanded at each underscore of the full name before it on its line (a guess that is no name is harmless).
    """
    names = set()
    for line in readme.splitlines():
        last = ""
        for token in re.findall(r"FACEGATE_[A-Z0-9_]*[A-Z0-9]|…_[A-Z0-9_]*[A-Z0-9]", line):
            if not token.startswith("…"):
                names.add(last := token)
                continue
            names |= {last[:cut] + token[1:] for cut, char in enumerate(last) if char == "_"}
    return names


def test_every_setting_is_in_the_readme() -> None:
    documented = readme_variables((REPO_ROOT / "README.md").read_text())
    for settings in SETTINGS_CLASSES:
        names, nested = read_variables(settings)
        for name in sorted(names):
            sections = [prefix for prefix in nested if prefix.rstrip("_") == name]
            if sections:  # a section of keys (FACEGATE_GATE_DOOR__KIND): one key at least
                keys = [given for given in documented if given.startswith(sections[0])]
                assert keys, f"no {name}__* key ({settings.__name__}) in the README"
            else:
                assert name in documented, f"{name} ({settings.__name__}) is missing from the README"


def test_every_variable_the_readme_gives_is_read() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    given = set(re.findall(r"FACEGATE_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])", readme)) - TYPO_EXAMPLES
    assert unread_variables(dict.fromkeys(given, "")) == []
