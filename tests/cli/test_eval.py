"""`facegate eval lfw` and `eval identify` via typer's CliRunner on real LFW photos and .bin crops."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from api.cli import app
from api.cli.eval import default_pairs_file
from recognition import EvaluationDataError, Recognizer, parse_lfw_pairs
from tests.data import encode_jpeg, knn_examples, lfw, write_verification_bin

runner = CliRunner()
JSON_KEYS = {"accuracy", "accuracy_std", "tar_at_far_1e-3", "pairs", "detect_failures", "model"}
IDENTIFY_JSON_KEYS = {
    "fnir_at_fpir_1e-2",
    "fnir_at_fpir_1e-3",
    "rank1",
    "gallery_identities",
    "mated_searches",
    "nonmated_searches",
    "detect_failures",
    "model",
}


def _run(*args: str, command: str = "lfw") -> tuple[int, str, dict[str, Any] | None]:
    """Exit code, everything printed, and the JSON object on the last line of stdout (if any)."""
    result = runner.invoke(app, ["eval", command, *args])
    lines = result.stdout.strip().splitlines()
    parsed = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return result.exit_code, result.output, parsed


def test_pairs_file_defaults_to_beside_then_inside_the_images_folder(tmp_path: Path) -> None:
    images = tmp_path / "lfw" / "lfw-deepfunneled"
    images.mkdir(parents=True)
    with pytest.raises(EvaluationDataError, match="give --pairs"):
        default_pairs_file(images)
    (images / "pairs.txt").write_text("")
    assert default_pairs_file(images) == images / "pairs.txt"
    (images.parent / "pairs.txt").write_text("")
    assert default_pairs_file(images) == images.parent / "pairs.txt"


def test_exactly_one_of_data_and_bin_is_required(tmp_path: Path) -> None:
    assert _run()[0] == 2
    code, output, _ = _run("--data", str(tmp_path), "--bin", str(tmp_path / "x.bin"))
    assert code == 2 and "exactly one of --data DIR and --bin FILE" in output


@pytest.mark.model
def test_lfw_subset_reports_high_accuracy_json_and_a_roc_png(tmp_path: Path) -> None:
    code, output, result = _run(
        "--data", str(lfw() / "lfw-deepfunneled"), "--limit-pairs", "200", "--json",
        "--roc-png", str(tmp_path / "roc.png"),
    )  # fmt: skip
    assert code == 0, output
    assert result is not None and JSON_KEYS <= set(result)
    assert result["pairs"] == 200 and result["detect_failures"] == 0
    assert result["accuracy"] > 0.9 and result["tar_at_far_1e-3"] > 0.8
    assert result["model"] == "sface-2021dec-int8bq" and result["embed_ms_per_face"] > 0
    assert "accuracy" in output and "TAR" in output
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.model
def test_a_photo_without_a_face_is_counted_named_and_its_pairs_kept(tmp_path: Path) -> None:
    source = lfw() / "lfw-deepfunneled"
    images = tmp_path / "images"
    for person, number in [
        ("Abel_Pacheco", 1),
        ("Abel_Pacheco", 4),
        ("Dean_Barker", 1),
        ("Zico", 1),
        ("Zico", 2),
    ]:
        (images / person).mkdir(parents=True, exist_ok=True)
        shutil.copy(source / person / f"{person}_{number:04d}.jpg", images / person)
    (images / "Nobody").mkdir()
    (images / "Nobody" / "Nobody_0001.jpg").write_bytes(encode_jpeg(np.full((250, 250, 3), 128, np.uint8)))
    pairs_txt = "2\t1\nAbel_Pacheco\t1\t4\nAbel_Pacheco\t1\tDean_Barker\t1\nZico\t1\t2\nNobody\t1\tZico\t1\n"
    (tmp_path / "pairs.txt").write_text(pairs_txt)
    code, output, result = _run("--data", str(images), "--json")
    assert code == 0, output
    assert result is not None and result["pairs"] == 4 and result["images"] == 6
    assert result["detect_failures"] == 1 and result["detect_failure_images"] == ["Nobody/Nobody_0001.jpg"]
    assert "Nobody/Nobody_0001.jpg: no face detected: aligned from the fixed LFW deep-funneled" in output


@pytest.mark.model
def test_a_verification_bin_is_embedded_without_detection(tmp_path: Path, recognizer: Recognizer) -> None:
    pairs = parse_lfw_pairs((lfw() / "pairs.txt").read_text()).limited(20)
    images = lfw() / "lfw-deepfunneled"
    photo_pairs = [
        (images / first, images / second, bool(same))
        for first, second, same in zip(pairs.first, pairs.second, pairs.is_same, strict=True)
    ]
    write_verification_bin(tmp_path / "lfw.bin", recognizer, photo_pairs)
    code, output, result = _run("--bin", str(tmp_path / "lfw.bin"), "--json")
    assert code == 0, output
    assert result is not None and result["pairs"] == 20 and result["images"] == 40
    assert result["detect_failures"] == 0 and result["accuracy"] > 0.9


def test_identify_refuses_a_split_without_probes_or_impostors(tmp_path: Path) -> None:
    for name, count in [("Ann", 4), ("Bob", 1)]:
        (tmp_path / name).mkdir()
        for number in range(1, count + 1):
            (tmp_path / name / f"{name}_{number:04d}.jpg").write_bytes(b"")
    code, output, _ = _run("--data", str(tmp_path), "--enroll-photos", "4", command="identify")
    assert code == 1 and "enroll photos (4) < min photos (4)" in output
    code, output, _ = _run("--data", str(tmp_path), "--min-photos", "5", command="identify")
    assert code == 1 and "0 people with ≥ 5 photos and 1 with one" in output


# knn_examples' photos, each saved under a name whose suffix a folder reader takes (any case)
SAVED_AS = {
    "alex_lacamoire/img1.jpg": "img1.PNG",
    "biden/biden.jpg": "biden.JPG",
    "biden/biden2.jpg": "biden2.pgm",
    "kit_harington/john1.jpeg": "john1.jpeg",
    "kit_harington/john2.jpeg": "john2.webp",
    "obama/obama.jpg": "obama.tif",
    "obama/obama2.jpg": "obama2.gif",
    "rose_leslie/img1.jpg": "img1.jpg",
    "rose_leslie/img2.jpg": "img2.bmp",
}


@pytest.mark.model
def test_identify_takes_every_photo_suffix_a_folder_reader_takes(tmp_path: Path) -> None:
    # `eval identify` took .jpg, .jpeg and .png only, in lower case: a person's .JPG, .pgm, .tif, .gif,
    # .webp or .bmp photos were left out, so a person with two photos was enrolled as a single or not at all.
    for source, name in SAVED_AS.items():
        target = tmp_path / source.split("/")[0] / name
        target.parent.mkdir(exist_ok=True)
        with Image.open(knn_examples() / "train" / source) as photo:
            photo.convert("L" if name.endswith(".pgm") else "RGB").save(
                target, format=Image.registered_extensions()[target.suffix.lower()]
            )

    code, output, result = _run(
        "--data", str(tmp_path), "--min-photos", "2", "--enroll-photos", "1", "--json", command="identify"
    )

    assert code == 0, output
    assert result is not None
    counts = {key: result[key] for key in ("gallery_identities", "mated_searches", "nonmated_searches")}
    assert counts == {"gallery_identities": 4, "mated_searches": 4, "nonmated_searches": 1}
    assert result["detect_failures"] == 0


@pytest.mark.model
def test_identify_on_an_lfw_subset_reports_a_high_rank1_rate_and_json() -> None:
    code, output, result = _run(
        "--data", str(lfw() / "lfw-deepfunneled"), "--limit-people", "10", "--json", command="identify"
    )  # fmt: skip
    assert code == 0, output
    assert result is not None and IDENTIFY_JSON_KEYS <= set(result)
    # The first 10 people with ≥ 4 photos own 55, 20 of them enrolled; the first 10 single-photo people.
    assert result["gallery_identities"] == 10 and result["gallery_templates"] == 20
    assert result["mated_searches"] == 35 and result["nonmated_searches"] == 10
    assert result["rank1"] > 0.8 and result["detect_failures"] == 0
    assert (
        0.0 <= result["fnir_at_fpir_1e-3"] <= 1.0
        and result["fnir_at_fpir_1e-2"] <= result["fnir_at_fpir_1e-3"]
    )
    assert result["model"] == "sface-2021dec-int8bq" and 0.0 <= result["fpir_at_model_threshold"] <= 1.0
    assert result["threshold_at_fpir_1e-3"] >= result["threshold_at_fpir_1e-2"] > -1.0
    assert "rank-1 identification rate" in output and "FNIR" in output
