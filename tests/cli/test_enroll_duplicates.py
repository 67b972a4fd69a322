"""`facegate enroll` of a face already enrolled under another name, on face_recognition's example photos."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.data import knn_examples

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.model
def test_an_allowed_duplicate_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    train = knn_examples() / "train"
    assert _invoke("init")[0] == 0
    assert _invoke("enroll", "Barack Obama", str(train / "obama" / "obama.jpg"))[0] == 0
    assert _invoke("enroll", "Joe Biden", str(train / "biden" / "biden.jpg"))[0] == 0
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    code, output = _invoke("enroll", "B. Obama", str(train / "obama" / "obama2.jpg"))

    assert code == 0, output
    assert "person 3: 1 templates enrolled" in output
    assert output.count("possible duplicate") == 1, output
    assert "warning: possible duplicate: obama2.jpg matches person 1 (score 0." in " ".join(output.split())
    # `facegate enroll` configures no logging, so Python's last-resort handler writes any warning record
    # on stderr beside the command's own line: that was the second report.
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert "enrollment for person 3 matches other people [1] (stored)" in caplog.messages
