"""What a `facegate` command writes for a log record: one line with level and logger, never a bare one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from tests.cli.plain_logging import root_logger_of_a_plain_process

runner = CliRunner()


def test_a_package_warning_is_one_line_with_its_level_and_logger(clean_environment: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    database = clean_environment / "facegate.db"
    database.chmod(0o644)  # storage warns when it closes a database file that other users could read
    handlers = logging.getLogger().handlers[:]

    with root_logger_of_a_plain_process():
        result = runner.invoke(app, ["people", "list"])

    assert result.exit_code == 0, result.output
    # with no logging configured, Python's last-resort handler wrote the bare message
    assert result.stderr.splitlines() == [
        f"WARNING storage.file_modes: {database} was open to every local user (mode 644); it is now 640. "
        "FaceGate creates its files 0600: chmod 600 it unless a group shares it on purpose"
    ]
    assert "0 people" in result.stdout
    assert logging.getLogger().handlers == handlers  # the command's handler went with it


def test_serve_and_the_verbose_commands_replace_the_command_handler_with_their_own() -> None:
    script = (
        "import logging\n"
        "from api.cli.runtime import configure_logging, log_warnings_to_stderr\n"
        "log_warnings_to_stderr()\n"
        "configure_logging(verbose=True)\n"
        "logging.getLogger('facegate.test').debug('at debug')\n"
        "logging.getLogger('facegate.test').warning('at warning')\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, check=True
    )
    assert done.stderr.splitlines() == ["DEBUG facegate.test: at debug", "WARNING facegate.test: at warning"]
