"""`facegate enroll` of a face already enrolled under another name, on face_recognition's example photos."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.cli.plain_logging import root_logger_of_a_plain_process
from tests.data import knn_examples

runner = CliRunner()
_MATCHES_OBAMA = r"possible duplicate: (obama2\.jpg )?matches person 1 \(score 0\.\d{3}, threshold 0\.\d{3}\)"


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"})  # not a terminal: rich's 80 columns
    return result.exit_code, result.output


def _enroll_obama_and_biden() -> Path:
    train = knn_examples() / "train"
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Barack Obama", str(train / "obama" / "obama.jpg"))[0] == 0
    assert _invoke("enroll", "Joe Biden", str(train / "biden" / "biden.jpg"))[0] == 0
    return train


@pytest.mark.model
def test_an_allowed_duplicate_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    train = _enroll_obama_and_biden()
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    code, output = _invoke("enroll", "B. Obama", str(train / "obama" / "obama2.jpg"))

    assert code == 0, output
    assert "person 3: 1 templates enrolled" in output
    assert output.count("possible duplicate") == 1, output
    (line,) = [line for line in output.splitlines() if "possible duplicate" in line]
    # 86 characters: the line broke after "threshold" when stdout was no terminal
    assert re.fullmatch(f"warning: {_MATCHES_OBAMA}", line)
    # a warning record would be a second report on stderr, beside the command's own line
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert "enrollment for person 3 matches other people [1] (stored)" in caplog.messages


@pytest.mark.model
def test_a_refused_duplicate_is_reported_once_by_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    train = _enroll_obama_and_biden()
    monkeypatch.setenv("FACEGATE_ENROLLMENT_ALLOW_DUPLICATES", "false")

    with root_logger_of_a_plain_process():
        result = runner.invoke(app, ["enroll", "B. Obama", str(train / "obama" / "obama2.jpg")])

    assert result.exit_code == 1, result.output
    # stderr also holds the gallery load's progress bars (a26e407), drawn once each where it is no terminal
    reported = [line for line in result.stderr.splitlines() if not line.startswith("gallery: ")]
    # the service's warning (which `facegate serve` logs) was printed too, bare, by the last-resort handler
    assert reported[0] == "enrollment refused, nothing was saved:", result.stderr
    assert re.fullmatch(f"  obama2\\.jpg: {_MATCHES_OBAMA}", "\n".join(reported[1:])), result.stderr
    assert "B. Obama" not in _invoke("people", "list")[1]
