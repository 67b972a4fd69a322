"""A `facegate` command's lines arrive whole when its output is not a terminal (CI logs, cron mail, `| grep`).

Rich lays its output out to 80 columns there (COLUMNS when set): a longer message was broken mid-sentence,
so a grep of the log missed it. The commands run as a user runs them, in a subprocess with stdout and
stderr piped and COLUMNS=80.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

ROOT = Path(__file__).parents[2]
LONG_DOOR = "north-wing-loading-dock-where-the-delivery-trucks-arrive-every-morning"
LONG_LABEL = "quarterly audit export for the regional compliance office, second floor"


def _facegate(*args: str) -> subprocess.CompletedProcess[str]:
    """`facegate ARGS` in a child process whose output is piped; FACEGATE_HOME is the test's."""
    environment = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )


@pytest.mark.slow  # a fresh interpreter imports the CLI
def test_a_long_line_on_stdout_arrives_whole() -> None:
    created = _facegate("doors", "create", LONG_DOOR)

    assert created.returncode == 0, created.stderr
    expected = f"door 1 {LONG_DOOR} created, without rules: it admits every enrolled person until it has one"
    assert created.stdout.splitlines() == [expected]


@pytest.mark.slow  # a fresh interpreter imports the CLI
def test_a_long_line_on_stderr_arrives_whole() -> None:
    created = CliRunner().invoke(app, ["apikeys", "create", "--role", "auditor", "--label", LONG_LABEL])
    assert created.exit_code == 0, created.output
    token_id = re.search(r"auditor key (\w+) ", created.output)
    assert token_id is not None, created.output

    revoked = _facegate("apikeys", "revoke", token_id[1])

    assert revoked.returncode == 0, revoked.stderr
    assert re.fullmatch(rf"key {token_id[1]} \(auditor, {LONG_LABEL}\) revoked at [^\n]+\n", revoked.stderr)


def test_a_table_still_fits_the_width_with_its_title_centred() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["doors", "create", LONG_DOOR]).exit_code == 0

    listed = runner.invoke(app, ["doors", "list"], env={"COLUMNS": "80"})

    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert max(len(line) for line in lines) == 80  # the long name takes the width, wrapped in its cell
    assert lines[0].strip() == "1 doors" and lines[0].startswith(" " * 30)
    assert "0 (admits every enrolled" in listed.output


def test_only_the_consoles_module_makes_a_console() -> None:
    """A console made elsewhere would wrap its lines at the width again (rich's default)."""
    makers = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "api").rglob("*.py")
        if "Console(" in path.read_text(encoding="utf-8")
    )
    assert makers == ["api/cli/consoles.py"]
