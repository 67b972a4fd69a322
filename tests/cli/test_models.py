"""`facegate models list` and `models calibrate` via typer's CliRunner, on real weights and LFW photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.models import calibration_photos
from recognition import BundleSearch, RecognitionSettings, build_recognizer, find_bundle, read_bundle_file
from tests.data import lfw, shared_weights

runner = CliRunner()


def _list(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, dict[str, Any]]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_list_shows_sface_installed_and_active_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rows = _list(monkeypatch, FACEGATE_RECOGNITION_BUNDLE_DIRS=json.dumps([str(tmp_path)]))
    sface = rows["sface"]

    assert sface["is_installed"] and sface["is_active"] and sface["model_id"] == "sface-2021dec-int8bq"
    assert (
        sface["runtime"] == "opencv_sface"
        and sface["embedding_dim"] == 128
        and sface["licence"] == "Apache-2.0"
    )
    assert set(sface["thresholds_at_far"]) == {"1e-02", "1e-03", "1e-04"}
    assert [row["name"] for row in rows.values() if row["is_active"]] == ["sface"]
    # Without the shared weights directory, MobileFaceNet's description is listed but not installed.
    assert not rows["mobilefacenet-foamliu-onnx"]["is_installed"]
    assert "not found" in rows["mobilefacenet-foamliu-onnx"]["problem"]


@pytest.mark.model
def test_list_marks_the_configured_bundle_active(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _list(
        monkeypatch,
        FACEGATE_RECOGNITION_BUNDLE_DIRS=json.dumps([str(shared_weights())]),
        FACEGATE_RECOGNITION_EMBEDDER__KIND="bundle",
        FACEGATE_RECOGNITION_EMBEDDER__NAME="mobilefacenet-foamliu-onnx",
    )
    mobilefacenet = rows["mobilefacenet-foamliu-onnx"]

    assert mobilefacenet["is_installed"] and mobilefacenet["is_active"] and not rows["sface"]["is_active"]
    calibrated = find_bundle("mobilefacenet-foamliu-onnx", BundleSearch()).bundle.calibration
    assert calibrated is not None
    assert mobilefacenet["thresholds_at_far"]["1e-03"] == calibrated.threshold_at(1e-3)


def test_table_output_names_every_bundle() -> None:
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert "sface" in result.output and "mobilefacenet-foamliu-onnx" in result.output


def test_calibration_photos_take_whole_people_in_name_order(tmp_path: Path) -> None:
    for person, count in (("b", 2), ("a", 3), ("c", 1)):
        (tmp_path / person).mkdir()
        for index in range(count):
            (tmp_path / person / f"{person}_{index}.jpg").write_bytes(b"")

    assert [p for _, p in calibration_photos(tmp_path, max_photos=5)] == ["a", "a", "a", "b", "b"]
    assert len(calibration_photos(tmp_path, max_photos=None)) == 6


@pytest.mark.model
@pytest.mark.slow
def test_calibrate_writes_the_curve_into_the_bundle(sface_copy: Path) -> None:
    """The copy calibrated on the first LFW people."""
    data = lfw() / "lfw-deepfunneled"

    result = runner.invoke(
        app, ["models", "calibrate", "sface-copy", "--data", str(data), "--max-photos", "60"]
    )

    assert result.exit_code == 0, result.output
    calibration = read_bundle_file(sface_copy).calibration
    assert calibration is not None
    chosen = calibration_photos(data, max_photos=60)
    counts = np.unique([person for _, person in chosen], return_counts=True)[1]
    genuine = int(sum(n * (n - 1) // 2 for n in counts))
    assert calibration.genuine_pairs == genuine
    assert calibration.impostor_pairs == len(chosen) * (len(chosen) - 1) // 2 - genuine
    assert f"{len(chosen)} photos" in calibration.dataset and "--max-photos 60" in calibration.command
    assert [point.far <= 1e-2 for point in calibration.thresholds] == [True] * len(calibration.thresholds)


@pytest.mark.parametrize(
    ("copies", "said"),
    [
        ((3,), "3 photos of 1 person: 3 genuine and 0 impostor pairs are too few to calibrate"),
        ((2, 1, 1), "4 photos of 3 people: 1 genuine and 5 impostor pairs are too few to calibrate"),
    ],
    ids=["one-person", "three-people"],
)
def test_calibrate_refuses_photos_too_few_for_a_curve_and_leaves_the_bundle_unchanged(
    sface_copy: Path, tmp_path: Path, group_faces: list[bytes], copies: tuple[int, ...], said: str
) -> None:
    """It wrote a calibration without curve points (so no threshold), which every reader then refused; or,
    with one person, stopped on a ValueError's traceback."""
    data = tmp_path / "photos"
    for person, count in enumerate(copies):
        (data / f"p{person}").mkdir(parents=True)
        for index in range(count):
            (data / f"p{person}" / f"{index}.jpg").write_bytes(group_faces[person])
    before = sface_copy.read_bytes()

    result = runner.invoke(app, ["models", "calibrate", "sface-copy", "--data", str(data)])

    assert result.exit_code == 1 and result.exception is not None, result.output
    line = " ".join(result.output.split())  # rich wraps the one line at the terminal width
    assert line.startswith(f"error: EvaluationDataError: {data}: {said}: a calibration needs at least 1 ")
    assert line.endswith("for its FAR curve's first point at 0.1; the bundle was not changed"), line
    assert sface_copy.read_bytes() == before


def _photos_of_six_people(root: Path, group_faces: list[bytes]) -> Path:
    """Seven photos: the first person twice (1 genuine pair), five others once (20 impostor pairs)."""
    for person, count in enumerate((2, 1, 1, 1, 1, 1)):
        (root / f"p{person}").mkdir(parents=True)
        for index in range(count):
            (root / f"p{person}" / f"{index}.jpg").write_bytes(group_faces[person])
    return root


def test_calibrating_a_built_in_bundle_writes_a_copy_into_the_bundle_directory(
    tmp_path: Path, group_faces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It rewrote recognition/bundles/sface.json inside the installed package (site-packages or the source
    tree): refused on a read-only install, and lost at the next upgrade."""
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", json.dumps([str(bundles)]))
    data = _photos_of_six_people(tmp_path / "photos", group_faces)
    shipped = find_bundle("sface", BundleSearch())
    assert shipped.is_builtin
    before = shipped.path.read_bytes()

    try:
        result = runner.invoke(app, ["models", "calibrate", "sface", "--data", str(data)])
    finally:
        after = shipped.path.read_bytes()
        if after != before:  # a regression must not leave the package changed
            shipped.path.write_bytes(before)

    assert result.exit_code == 0, result.output
    assert after == before
    copy = bundles / "sface" / "bundle.json"
    assert (
        f"impostor pairs; written to {copy} (a copy of the built-in bundle, which is left as shipped)"
        in " ".join(result.output.split())
    )
    calibration = read_bundle_file(copy).calibration
    assert calibration is not None
    assert (calibration.genuine_pairs, calibration.impostor_pairs) == (1, 20)
    # what every later search finds: `models list`, and the default embedder a gate builds
    assert _list(monkeypatch)["sface"]["calibrated_on"] == calibration.dataset
    settings = RecognitionSettings(allow_model_download=False)
    recognizer = build_recognizer(settings, cache_dir=tmp_path / "cache")
    assert recognizer.embedder.bundle.calibration == calibration
    assert recognizer.model_id == shipped.bundle.model_id


def test_calibrating_a_built_in_bundle_without_a_bundle_directory_changes_nothing(
    tmp_path: Path, group_faces: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", json.dumps([str(tmp_path / "missing")]))
    data = _photos_of_six_people(tmp_path / "photos", group_faces)
    shipped = find_bundle("sface", BundleSearch())
    before = shipped.path.read_bytes()

    try:
        result = runner.invoke(app, ["models", "calibrate", "sface", "--data", str(data)])
    finally:
        after = shipped.path.read_bytes()
        if after != before:
            shipped.path.write_bytes(before)

    assert result.exit_code == 1 and after == before
    line = " ".join(result.output.split())
    assert line.startswith("error: ModelLoadError: bundle sface is built in (its description lies in the ")
    assert line.endswith(f"none exists that holds bundles in folders ({tmp_path / 'missing'})"), line
    assert not (tmp_path / "missing").exists()


def test_calibrating_an_unknown_model_fails_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "calibrate", "nobody", "--data", str(tmp_path)])
    assert result.exit_code == 1 and "no model bundle named 'nobody'" in result.output


@pytest.mark.model
def test_eval_lfw_runs_any_bundle_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", json.dumps([str(shared_weights())]))
    data = lfw() / "lfw-deepfunneled"
    args = ["eval", "lfw", "--data", str(data), "--limit-pairs", "20", "--json"]

    result = runner.invoke(app, [*args, "--model", "mobilefacenet-foamliu-onnx"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["model"] == "mobilefacenet-foamliu-onnx@a6cc903"


def test_list_shows_every_valid_bundle_and_names_an_invalid_one(tmp_path: Path) -> None:
    (tmp_path / "run-7").mkdir()
    (tmp_path / "run-7" / "bundle.json").write_text('{"name": "run-7", "version": "1", "runt')

    env = {"FACEGATE_RECOGNITION_BUNDLE_DIRS": json.dumps([str(tmp_path)])}

    result = runner.invoke(app, ["models", "list", "--json"], env=env)

    assert result.exit_code == 1
    assert "sface" in {row["name"] for row in json.loads(result.stdout)}
    assert result.stderr.startswith("invalid bundle description, skipped: ")
    assert str(tmp_path / "run-7" / "bundle.json") in result.stderr
