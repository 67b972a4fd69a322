"""After a model switch `facegate people list` names who has templates of other models only.

A gallery holds only the active model's templates, so people enrolled under the former model are no
longer recognised; the list's template count counts every model's, so it showed them as enrolled.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from recognition import BundleSearch, RecognitionSettings, active_model_id, find_bundle
from storage import Engine, Keyring
from tests.model_switch import enroll_under

SFACE = "sface-2021dec-int8bq"
MOBILEFACENET = find_bundle("mobilefacenet-foamliu-onnx", BundleSearch()).bundle.model_id


def _people_list() -> str:
    result = CliRunner().invoke(app, ["people", "list"])
    assert result.exit_code == 0, result.output
    return result.output


def test_people_enrolled_only_under_another_model_are_named(
    configured: Engine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_under(configured, keyring, "Ada", SFACE, SFACE)
    enroll_under(configured, keyring, "Bob", SFACE, MOBILEFACENET)
    enroll_under(configured, keyring, "Cy", MOBILEFACENET)
    enroll_under(configured, keyring, "Dee")  # no template at all: not a model switch's doing

    assert active_model_id(RecognitionSettings()) == SFACE
    output = _people_list()
    assert (
        f"1 person has templates of other models only, none of the active model {SFACE}: no gate or API "
        "search finds them until they are enrolled again (facegate enroll --person-id ID PHOTO...)"
    ) in " ".join(output.split())
    assert f"  3 Cy: 1 of {MOBILEFACENET}\n" in output
    assert "Ada:" not in output and "Bob:" not in output and "Dee:" not in output

    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__KIND", "bundle")
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__NAME", "mobilefacenet-foamliu-onnx")
    output = _people_list()
    assert f"1 person has templates of other models only, none of the active model {MOBILEFACENET}" in (
        " ".join(output.split())
    )
    assert f"  1 Ada: 2 of {SFACE}\n" in output
    assert "Bob:" not in output and "Cy:" not in output


def test_nobody_is_named_when_everyone_has_a_template_of_the_active_model(
    configured: Engine, keyring: Keyring
) -> None:
    enroll_under(configured, keyring, "Ada", SFACE)
    assert "other models" not in _people_list()


def test_an_unknown_configured_model_still_lists_people_and_says_why_it_cannot_tell(
    configured: Engine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_under(configured, keyring, "Ada", SFACE)
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__KIND", "bundle")
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__NAME", "no-such-model")
    output = _people_list()
    assert "Ada" in output
    assert "cannot tell who must be enrolled again under the configured model: no model bundle named" in (
        " ".join(output.split())
    )
