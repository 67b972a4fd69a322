"""A FACEGATE_* variable that no settings class reads stops every command with its name.

pydantic-settings passes over a variable under a settings class's prefix that names none of its fields,
and StorageSettings judged only the short names, so `FACEGATE_API_PROT=8080 facegate serve` served on 8000
and `FACEGATE_GATE_DECISON__COOLDOWN_S=0` left the cooldown at 10 s, without a word.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.environment import unread_variables


@pytest.mark.parametrize(
    "name",
    [
        "FACEGATE_API_PROT",
        "FACEGATE_GATE_DECISON__COOLDOWN_S",
        "FACEGATE_GATE_DAEMON_HTTP_PROT",
        "FACEGATE_RECOGNITION_DETECTR__KIND",
        "FACEGATE_RECOGNITION_DATA_DIR",
        "FACEGATE_ENROLLMENT_MIN_FACE",
    ],
)
def test_a_typo_under_a_package_prefix_stops_a_command(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "1")
    result = CliRunner().invoke(app, ["people", "list"])
    expected = f"error: unknown environment variable(s) {name} (a typo?)\n"
    assert (result.exit_code, result.output) == (1, expected)


def test_every_setting_and_nested_key_is_read() -> None:
    environ = dict.fromkeys(
        [
            "FACEGATE_HOME",
            "FACEGATE_DATABASE_CONNECT_TIMEOUT_S",
            "FACEGATE_DATA_DIR",
            "FACEGATE_API_PORT",
            "FACEGATE_API_GATE_HEALTH_URLS",
            "FACEGATE_GATE_DOOR__KIND",
            "FACEGATE_GATE_GALLERY_SOURCE__LONG_POLL_S",
            "FACEGATE_GATE_TRACK_IOU_MIN",
            "FACEGATE_GATE_DAEMON_HTTP_PORT",
            "FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_BYTES",
            "facegate_recognition_index__kind",
            "FACEGATE_ENROLLMENT_MAX_PHOTOS",
            "FACEGATE_TEST_DATABASE_URL",
            "OMP_NUM_THREADS",
        ],
        "1",
    )
    assert unread_variables(environ) == []
    environ |= {"FACEGATE_API_PORT__X": "1", "FACEGATE_DATA_DIR_X": "1"}
    assert unread_variables(environ) == ["FACEGATE_API_PORT__X", "FACEGATE_DATA_DIR_X"]
