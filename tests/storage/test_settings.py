"""StorageSettings refuses FACEGATE_ variables no settings class reads, like the other settings classes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from storage import StorageSettings


@pytest.mark.parametrize("name", ["FACEGATE_DATABSE_URL", "FACEGATE_MASTERKEY", "facegate_homedir"])
def test_a_typo_in_a_short_name_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "x")
    with pytest.raises(ValidationError, match=name):
        StorageSettings()


@pytest.mark.parametrize(
    "name",
    [
        "FACEGATE_DATABASE_URL",
        "FACEGATE_DATA_DIR",
        "FACEGATE_API_PORT",
        "FACEGATE_GATE_DOOR__KIND",
        "FACEGATE_RECOGNITION_MODEL_DIR",
        "FACEGATE_ENROLLMENT_MIN_FACE_PX",
        "FACEGATE_TEST_DATABASE_URL",
    ],
)
def test_known_names_and_other_packages_prefixes_pass(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "sqlite:///x.db")
    StorageSettings()


def test_an_init_keyword_that_is_not_a_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        StorageSettings(databse_url="sqlite://")  # type: ignore[call-arg]
