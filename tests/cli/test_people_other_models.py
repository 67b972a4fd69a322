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


def _rows(output: str) -> dict[str, list[str]]:
    """The table's header and body rows by their second cell (name), each as its stripped cells."""
    lines = [line.replace("┃", "│") for line in output.splitlines() if line.startswith(("│", "┃"))]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]
    return {row[1]: row for row in rows}


def test_the_table_counts_the_active_models_templates_apart_from_other_models(
    configured: Engine, keyring: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It counted every model's templates: Bob showed 3 while no gallery of the active model held one."""
    enroll_under(configured, keyring, "Ada", SFACE)
    enroll_under(configured, keyring, "Bob", MOBILEFACENET, MOBILEFACENET, MOBILEFACENET)
    enroll_under(configured, keyring, "Cy", SFACE, MOBILEFACENET, MOBILEFACENET)

    rows = _rows(CliRunner().invoke(app, ["people", "list"]).stdout)
    assert rows["name"][2:4] == ["templates", "other models"]
    assert {name: row[2:4] for name, row in rows.items() if name != "name"} == {
        "Ada": ["1", "0"],
        "Bob": ["0", "3"],
        "Cy": ["1", "2"],
    }

    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__KIND", "bundle")
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__NAME", "no-such-model")
    rows = _rows(CliRunner().invoke(app, ["people", "list"]).stdout)
    assert rows["name"][2] == "templates (all models)"
    all_models = {name: row[2] for name, row in rows.items() if name != "name"}
    assert all_models == {"Ada": "1", "Bob": "3", "Cy": "3"}


def test_nobody_is_named_when_everyone_has_a_template_of_the_active_model(
    configured: Engine, keyring: Keyring
) -> None:
    enroll_under(configured, keyring, "Ada", SFACE)
    assert "templates of other models only" not in _people_list()


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
