"""A validation or settings error is one line naming the field and exit 1 (E3), for every command.

Printed as it was, a pydantic ValidationError spanned several lines (with the rejected input and a link),
and a bad FACEGATE_* value read outside `cli_errors` (e.g. by `facegate demo`) was a traceback.
"""

from __future__ import annotations

import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli import app
from recognition import RecognitionSettings


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_an_over_long_door_name_is_one_line() -> None:
    expected = "error: door name: String should have at most 100 characters\n"
    assert _invoke("doors", "create", "x" * 101) == (1, expected)
    assert _invoke("doors", "rename", "1", "x" * 101) == (1, expected)


def test_each_problem_of_a_door_rule_is_named_on_one_line() -> None:
    code, output = _invoke(
        "access", "rule", "add", "--door", "x" * 101, "--group-id", "1", "--day", "mon",
        "--start", "09:00", "--end", "25:00",
    )  # fmt: skip
    door = "door rule door: String should have at most 100 characters"
    end = "door rule end: '25:00' is not a time HH:MM between 00:00 and 24:00"
    assert (code, output) == (1, f"error: {door}; {end}\n")
    code, output = _invoke(
        "access", "rule", "add", "--door", "lab", "--group-id", "1", "--day", "mon",
        "--start", "10:00", "--end", "09:00",
    )  # fmt: skip
    expected = "error: door rule: start must be before end (split an overnight window into two rules)\n"
    assert (code, output) == (1, expected)


@pytest.mark.parametrize("command", [["events"], ["demo"]])
def test_a_bad_setting_names_its_variable_on_one_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`events` reads its settings inside `cli_errors`, `demo` before it: both are one line."""
    monkeypatch.setenv("FACEGATE_DATABASE_POOL_SIZE", "0")
    expected = "error: FACEGATE_DATABASE_POOL_SIZE: Input should be greater than or equal to 1\n"
    assert _invoke(*command) == (1, expected)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "Input should be greater than or equal to 0.001"),
        ("-5", "Input should be greater than or equal to 0.001"),
        ("601", "Input should be less than or equal to 600"),
        ("30s", "Input should be a valid number, unable to parse string as a number"),
    ],
)
def test_a_sqlite_busy_timeout_out_of_range_names_its_variable(
    value: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No wait at all (0: every write meeting another fails at once) or a hang of more than 10 minutes."""
    monkeypatch.setenv("FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S", value)
    assert _invoke("events") == (1, f"error: FACEGATE_DATABASE_SQLITE_BUSY_TIMEOUT_S: {said}\n")


def test_a_settings_validator_and_a_list_setting_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_TYPO", "1")
    expected = "error: unknown environment variable(s) FACEGATE_TYPO (a typo?)\n"
    assert _invoke("events") == (1, expected)
    monkeypatch.delenv("FACEGATE_TYPO")
    monkeypatch.setenv("FACEGATE_API_GATE_HEALTH_URLS", '["gate-1"]')
    url = "Input should be a valid URL, relative URL without a base"
    expected = f"error: FACEGATE_API_GATE_HEALTH_URLS[0]: {url}\n"
    assert _invoke("serve") == (1, expected)
    monkeypatch.setenv("FACEGATE_API_GATE_HEALTH_URLS", "[1")
    expected = (
        'error: error parsing value for field "gate_health_urls" from source "EnvSettingsSource": '
        "Expecting ',' delimiter: line 1 column 3 (char 2)\n"
    )
    assert _invoke("serve") == (1, expected)


def test_a_refused_postgresql_connection_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg's message for a refused connection has a line break and a tab-indented hint of its own."""
    monkeypatch.setenv("FACEGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/test")
    code, output = _invoke("maintenance", "purge")
    assert code == 1
    assert output.startswith("error: DatabaseUnavailable: "), output
    assert output.count("\n") == 1, output
    assert "Connection refused; Is the server running" in output, output


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"FACEGATE_GATE_DOOR__KIND": "mqtt", "FACEGATE_GATE_DOOR__TPOIC": "x"},
            "FACEGATE_GATE_DOOR__TOPIC: Field required; "
            "FACEGATE_GATE_DOOR__TPOIC: Extra inputs are not permitted",
        ),
        (
            {"FACEGATE_GATE_GALLERY_SOURCE__KIND": "api"},
            "FACEGATE_GATE_GALLERY_SOURCE__URL: Field required; "
            "FACEGATE_GATE_GALLERY_SOURCE__API_KEY: Field required",
        ),
        (
            {"FACEGATE_RECOGNITION_DETECTOR__KIND": "scrfd"},
            "FACEGATE_RECOGNITION_DETECTOR__MODEL_DIR: Field required; "
            "FACEGATE_RECOGNITION_DETECTOR__MODEL_SHA256: Field required",
        ),
    ],
)
def test_a_key_of_a_section_chosen_by_kind_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: str
) -> None:
    """The section's kind is no part of the variable: FACEGATE_GATE_DOOR__MQTT__TOPIC named none."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    command = ["gate", "--source", "0", "--door", "front", "--check-config"]
    assert _invoke(*command) == (1, f"error: {expected}\n")


def test_a_pixel_limit_above_pillows_is_refused_at_start_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above Pillow's 89478485 pixels decode_image refuses every image whatever the setting says, so the
    setting promised what the decoder did not do: it is refused when a command starts, as one line."""
    limit = Image.MAX_IMAGE_PIXELS  # the constant in recognition/settings.py follows Pillow's
    assert limit == 89_478_485
    setting = "FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_PIXELS"
    monkeypatch.setenv(setting, str(limit))
    assert RecognitionSettings().limits.max_image_pixels == limit
    monkeypatch.setenv(setting, str(limit + 1))
    expected = (
        f"error: {setting}: at most 89478485 pixels: Pillow refuses a larger image as a possible "
        "decompression bomb whatever this setting says (got 89478486)\n"
    )
    assert _invoke("models", "list") == (1, expected)  # not `serve`: without the bound it would serve
