"""`facegate pad make-attacks | calibrate` and `facegate eval pad` on real photos with the real PAD model."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BpcerPoint,
    FaceFillCalibration,
    PadCalibration,
    PadCalibrationSource,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    every_nth_person,
    fill_warp_padding,
    image_paths,
    read_pad_card,
    score_stills,
    write_pad_card,
)
from tests.data import knn_examples, minifasnet_dir, orl, shared_faces
from tests.fakes import RecordingPad
from tests.gate.pad_support import hand_set_rule

pytestmark = [pytest.mark.model, pytest.mark.slow]
runner = CliRunner()


def _json_last(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def pad_home(pad_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the converted PAD model as the model directory (calibration writes into it)."""
    models = tmp_path / "models"
    shutil.copytree(pad_model_dir, models)
    monkeypatch.setenv("FACEGATE_RECOGNITION_MODEL_DIR", str(models))
    monkeypatch.setenv("FACEGATE_RECOGNITION_BUNDLE_DIRS", "[]")
    return models


def test_calibrate_writes_thresholds_that_hold_their_bpcer(pad_home: Path, sim_stills: Path) -> None:
    calibration = _json_last("pad", "calibrate", "--data", str(knn_examples()), "--dataset", "knn", "--json")

    card = read_pad_card(pad_home / "minifasnet-pad" / "pad.json")
    assert card.calibration is not None and card.calibration.dataset == "knn"
    count = calibration["bona_fide_count"]
    assert 10 <= count < 100
    # A target is calibrated only where one photo can measure it: 1% needs 100 photos.
    assert [p["bpcer"] for p in calibration["points"]] == [b for b in (0.01, 0.05, 0.1) if b * count >= 1]
    report = _json_last("eval", "pad", "--data", str(sim_stills), "--bpcer-target", "0.1", "--json")
    assert report["operating_points"][0]["threshold"] == pytest.approx(card.calibration.threshold_at(0.1))


def test_calibrating_the_same_selection_twice_gives_the_same_threshold_and_records_it(
    pad_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    people = orl()
    options = ("--data", str(people), "--every-nth-person", "13", "--person-offset", "3", "--json")
    first = _json_last("pad", "calibrate", *options)
    card = read_pad_card(pad_home / "minifasnet-pad" / "pad.json")
    second = _json_last("pad", "calibrate", *options)

    assert first == second
    selection = every_nth_person(people, every_nth=13, offset=3)
    assert card.calibration is not None and card.calibration.source is not None
    source = card.calibration.source
    assert (source.photo_count, source.paths_sha256) == (len(selection.paths), selection.sha256)
    assert source.rule == selection.rule
    assert source.crop == RecognitionSettings().pad.model_dump(mode="json", exclude={"kind"})
    assert source.detector["kind"] == "yunet"
    # A threshold holds only for the crop it was measured with: another crop is warned about at load.
    moved = RecognitionSettings(pad={"box_width_scale": 1.3}, model_dir=pad_home, bundle_dirs=[])
    with caplog.at_level(logging.WARNING, logger="recognition.registry"):
        build_pad_detector(moved, cache_dir=pad_home)
    assert "calibrated with crop settings" in caplog.text
    # The next offset: other people, another digest.
    other = _json_last("pad", "calibrate", *options[:-2], "4", "--json")
    assert other["source"]["paths_sha256"] != source.paths_sha256


WARPED_MAX_PX = 640


@pytest.fixture(scope="session")
def warp_bordered_originals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the knn examples warped as deep funnelling warps LFW, black border and all; the same photos with that
    border filled beforehand), both lossless PNG so that the two routes decode to the same pixels. Made once
    per run, and at most 640 px a side: the fill inpaints the border, whose cost grows with its area (10.3
    CPU-s for the 14 at their own sizes, up to 2204 px, measured; each test that fills pays it again), and
    four tests use them."""
    root = tmp_path_factory.mktemp("warp_bordered")
    bordered, prefilled = root / "bordered", root / "prefilled"
    bordered.mkdir()
    prefilled.mkdir()
    for path in image_paths(knn_examples()):
        photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
        scale = min(1.0, WARPED_MAX_PX / max(photo.shape[:2]))
        photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        height, width = photo.shape[:2]
        warp = cv2.getRotationMatrix2D((width / 2, height / 2), 8.0, 0.8)
        warped = np.asarray(cv2.warpAffine(photo, warp, (width, height)), np.uint8)
        cv2.imwrite(str(bordered / f"{path.stem}.png"), warped)
        cv2.imwrite(str(prefilled / f"{path.stem}.png"), fill_warp_padding(warped))
    return bordered, prefilled


@pytest.fixture
def warp_bordered_photos(warp_bordered_originals: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """Fresh copies of `warp_bordered_originals` in this test's tmp_path (a test may move them)."""
    bordered, prefilled = (shutil.copytree(d, tmp_path / d.name) for d in warp_bordered_originals)
    return bordered, prefilled


def test_calibrating_with_the_warp_border_filled_scores_the_filled_photos_and_records_it(
    pad_home: Path, warp_bordered_photos: tuple[Path, Path]
) -> None:
    bordered, prefilled = warp_bordered_photos

    filled = _json_last("pad", "calibrate", "--data", str(bordered), "--fill-warp-padding", "--json")
    card = read_pad_card(pad_home / "minifasnet-pad" / "pad.json")
    raw = _json_last("pad", "calibrate", "--data", str(bordered), "--json")
    already = _json_last("pad", "calibrate", "--data", str(prefilled), "--json")

    assert filled["points"] == already["points"]  # the option scores exactly the filled photos
    assert filled["points"] != raw["points"]  # and the border moved the threshold
    assert card.calibration is not None and card.calibration.source is not None
    assert card.calibration.source.is_warp_padding_filled
    assert not raw["source"]["is_warp_padding_filled"]
    # A card written before the field existed still loads, as calibrated without filling.
    old = {key: value for key, value in filled["source"].items() if key != "is_warp_padding_filled"}
    assert not PadCalibrationSource.model_validate(old).is_warp_padding_filled


def test_eval_pad_fills_the_warp_border_of_stills_on_request(
    pad_home: Path, tmp_path: Path, warp_bordered_photos: tuple[Path, Path]
) -> None:
    bordered, prefilled = warp_bordered_photos
    calibration = _json_last("pad", "calibrate", "--data", str(prefilled), "--json")
    threshold = str(max(point["attack_threshold"] for point in calibration["points"]))
    for data in (bordered, prefilled):
        (tmp_path / f"{data.name}_set" / "attack" / "print").mkdir(parents=True)
        data.rename(tmp_path / f"{data.name}_set" / "bona_fide")
    options = ("--bpcer-target", "0.1", "--threshold", threshold, "--json")

    filled = _json_last(
        "eval", "pad", "--data", str(tmp_path / "bordered_set"), "--fill-warp-padding", *options
    )
    raw = _json_last("eval", "pad", "--data", str(tmp_path / "bordered_set"), *options)
    already = _json_last("eval", "pad", "--data", str(tmp_path / "prefilled_set"), *options)

    given = 1  # the --threshold point, after the card's own
    assert filled["operating_points"][given]["threshold_basis"] == "given"
    # A calibrated point refuses some filled photos.
    assert filled["operating_points"][given]["bpcer"] == already["operating_points"][given]["bpcer"] > 0
    assert filled["operating_points"][given]["bpcer"] != raw["operating_points"][given]["bpcer"]


def test_make_attacks_fills_the_warp_border_before_rendering_on_request(
    tmp_path: Path, warp_bordered_photos: tuple[Path, Path]
) -> None:
    bordered, prefilled = warp_bordered_photos

    def made(data: Path, name: str, *fill: str) -> dict[str, bytes]:
        out = tmp_path / name
        options = ["--out", str(out), "--limit", "3", "--seed", "5", *fill]
        result = runner.invoke(app, ["pad", "make-attacks", "--data", str(data), *options])
        assert result.exit_code == 0, result.output
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jpg"))}

    filled = made(bordered, "filled", "--fill-warp-padding")
    already = made(prefilled, "already")
    raw = made(bordered, "raw")

    assert len(filled) == 9  # 3 bona fide photos and 3 stills of each species
    assert filled == already  # the phone and the print show the filled photo, rendered the same way
    assert all(filled[name] != raw[name] for name in filled)  # and not the black border


def test_make_attacks_writes_only_the_chosen_species_and_the_same_stills_of_it(
    tmp_path: Path, warp_bordered_photos: tuple[Path, Path]
) -> None:
    _, photos = warp_bordered_photos

    def made(name: str, *species: str) -> dict[str, bytes]:
        out = tmp_path / name
        options = ["--out", str(out), "--limit", "3", "--seed", "5", *species]
        result = runner.invoke(app, ["pad", "make-attacks", "--data", str(photos), *options])
        assert result.exit_code == 0, result.output
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.jpg"))}

    every = made("every")
    prints = made("prints", "--species", "print")
    assert {Path(name).parent.as_posix() for name in prints} == {"bona_fide", "attack/print"}
    assert len(prints) == 6 and all(every[name] == still for name, still in prints.items())
    unknown = runner.invoke(
        app, ["pad", "make-attacks", "--data", str(photos), "--out", str(tmp_path / "x"), "--species", "mask"]
    )
    assert unknown.exit_code == 2 and "mask" in unknown.output and not (tmp_path / "x").exists()
    twice = ["--out", str(tmp_path / "twice"), "--limit", "3", "--species", "print", "--species", "print"]
    repeated = runner.invoke(app, ["pad", "make-attacks", "--data", str(photos), *twice])
    assert repeated.exit_code == 0 and "3 bona fide photos and 3 simulated attacks" in repeated.output


def _made(root: Path, *, videos: int) -> Path:
    out = root / "sim"
    if not out.is_dir():
        source = str(knn_examples() / "train")
        options = ["--limit", "6", "--videos", str(videos), "--video-frames", "8"]
        result = runner.invoke(app, ["pad", "make-attacks", "--data", source, "--out", str(out), *options])
        assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def made_stills(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """make-attacks' stills of 6 knn photos (no videos), rendered once per session."""
    return _made(tmp_path_factory.mktemp("made"), videos=0)


@pytest.fixture
def sim_stills(made_stills: Path, tmp_path: Path) -> Path:
    """This test's copy of `made_stills` (the same files, as `_made(tmp_path, videos=0)` wrote them)."""
    return Path(shutil.copytree(made_stills, tmp_path / "sim"))


def test_eval_pad_reports_iso_figures_on_stills_and_decides_videos_per_track(
    pad_home: Path, tmp_path: Path
) -> None:
    data = _made(tmp_path, videos=1)
    assert {p.parent.name for p in (data / "attack").rglob("*.jpg")} == {"print", "screen_replay"}
    png = tmp_path / "det.png"

    stills = _json_last(
        "eval",
        "pad",
        "--data",
        str(data),
        "--gallery",
        str(data / "bona_fide"),
        "--plot-png",
        str(png),
        "--json",
    )

    (point,) = stills["operating_points"]
    assert stills["unit"] == "photo" and point["threshold_basis"] == "uncalibrated"
    assert stills["bona_fide"] + stills["detection_failures"]["bona_fide"] == 6
    assert set(point["apcer"]) == {"print", "screen_replay"} and 0 <= point["apcer_max"] <= 1
    assert point["acer"] == pytest.approx((point["apcer_max"] + point["bpcer"]) / 2)
    assert set(stills["iapmr"]) == set(point["iapmr_with_pad"]) == {"print", "screen_replay"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    videos = _json_last(
        "eval", "pad", "--data", str(data / "videos"), "--gallery", str(data / "bona_fide"), "--json"
    )
    assert videos["unit"] == "track" and videos["judge"] == "gate"
    assert videos["bona_fide"] + videos["detection_failures"]["bona_fide"] == 1


def test_eval_pad_counts_a_video_whose_face_fills_every_frame_apart(
    pad_home: Path, tmp_path: Path, recognizer: Recognizer
) -> None:
    photo = cv2.imread(str(knn_examples() / "train" / "kit_harington" / "john1.jpeg"))
    x1, y1, x2, y2 = recognizer.detect(photo)[0].bbox
    margin_x, margin_y = (x2 - x1) // 20, (y2 - y1) // 20
    face = photo[max(0, y1 - margin_y) : y2 + margin_y, max(0, x1 - margin_x) : x2 + margin_x]
    close = cv2.resize(face, None, fx=2.0, fy=2.0)  # the face right at the lens
    data, gallery = tmp_path / "close", tmp_path / "gallery"
    for folder in (data / "bona_fide", data / "attack" / "print", gallery):
        folder.mkdir(parents=True)
    cv2.imwrite(str(gallery / "kit.jpg"), photo)
    for path in (data / "bona_fide" / "kit.avi", data / "attack" / "print" / "kit.avi"):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15.0, close.shape[1::-1])
        for _ in range(8):
            writer.write(close)
        writer.release()

    report = _json_last("eval", "pad", "--data", str(data), "--gallery", str(gallery), "--json")

    assert report["unit"] == "track" and report["bona_fide"] == 0
    assert report["faces_too_close"] == {"bona_fide": 1, "print": 1}
    assert report["detection_failures"] == {"bona_fide": 0, "print": 0}


@pytest.mark.parametrize(
    ("codec", "decider"),
    [("FFV1", "passive"), ("MJPG", "passive"), ("FFV1", "track rule"), ("FFV1", "track rule, grey at 5%")],
    ids=["lossless", "mjpeg-off-grey-by-2-levels", "track-rule-lossless", "track-rule-grey-without-1%"],
)
def test_eval_pad_holds_a_video_of_grey_frames_to_the_grey_calibration_as_the_gate_does(
    pad_home: Path, tmp_path: Path, codec: str, decider: str
) -> None:
    photo = cv2.imread(str(knn_examples() / "train" / "kit_harington" / "john1.jpeg"))
    grey = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    scene = cv2.copyMakeBorder(grey, 80, 80, 80, 80, cv2.BORDER_CONSTANT, value=(90, 90, 90))
    data, gallery = tmp_path / "night", tmp_path / "gallery"
    for folder in (data / "bona_fide", data / "attack" / "print", gallery):
        folder.mkdir(parents=True)
    cv2.imwrite(str(gallery / "kit.jpg"), photo)  # enrolled in colour, by day
    for path in (data / "bona_fide" / "kit.avi", data / "attack" / "print" / "kit.avi"):
        # FFV1 decodes exactly grey; MJPEG, a common camera stream, up to 2 levels off: grey all the same.
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), 15.0, scene.shape[1::-1])
        for _ in range(6):
            writer.write(scene)
        writer.release()
    # A colour calibration refusing every track, a grey one refusing none.
    card_path = pad_home / PAD_CARD_DIR / PAD_CARD_FILE
    colour, grey_calibration = (
        PadCalibration(
            dataset=name, bona_fide_count=100, points=(BpcerPoint(bpcer=0.01, attack_threshold=at),)
        )
        for name, at in (("colour", 0.0), ("grey", 1.0))
    )
    update: dict[str, object] = {"calibration": colour, "grey_calibration": grey_calibration}
    if decider.startswith(
        "track rule"
    ):  # the rule's own thresholds per colour, as the gate holds a grey track
        if decider.endswith("at 5%"):  # no point at the 1% target: it holds no grey track there (the gate's)
            at_5 = BpcerPoint(bpcer=0.05, attack_threshold=1.0)
            grey_calibration = grey_calibration.model_copy(update={"points": (at_5,)})
        rule = hand_set_rule(("passive", "frame_edges"))
        rule = rule.model_copy(update={"calibration": colour, "grey_calibration": grey_calibration})
        update = {"track_rule": rule}
    write_pad_card(read_pad_card(card_path).model_copy(update=update), card_path)

    report = _json_last("eval", "pad", "--data", str(data), "--gallery", str(gallery), "--json")

    (point_at,) = report["operating_points"]
    assert report["bona_fide"] == 1
    # The basis in the gate's words, as its events carry it (tests/gate/test_pad_gate.py).
    assert (
        point_at["grey_basis"]
        == {
            "passive": "grey frames: BPCER 0.01 on grey",
            "track rule": "track rule, grey tracks: BPCER 0.01 on grey",
            "track rule, grey at 5%": "track rule, BPCER 0.01 on colour, no grey calibration at BPCER 0.01",
        }[decider]
    )
    if decider.endswith("at 5%"):  # held to the colour threshold, which refuses every track
        assert (point_at["grey_threshold"], point_at["threshold"], point_at["bpcer"]) == (0.0, 0.0, 1.0)
        assert point_at["judged_by"]["grey_threshold"] == {"bona_fide": 0, "print": 0}
    else:
        assert point_at["grey_threshold"] == 1.0
        assert point_at["judged_by"]["grey_threshold"] == {"bona_fide": 1, "print": 1}
        assert point_at["bpcer"] == 0.0


def _orl_people(root: Path, count: int) -> Path:
    """A folder of ORL's first `count` people (links to their folders): 10 headshots each."""
    root.mkdir()
    for number in range(1, count + 1):
        (root / f"s{number}").symlink_to(orl() / f"s{number}", target_is_directory=True)
    return root


def test_calibrating_face_filling_photos_writes_the_face_fill_calibration_only(
    pad_home: Path, tmp_path: Path
) -> None:
    card_path = pad_home / "minifasnet-pad" / "pad.json"
    before = read_pad_card(card_path)
    # ORL's headshots (100 of 10 people: enough for 1%) all fill their photos and are grey; none of the 14
    # knn examples fills its photo.
    headshots = _orl_people(tmp_path / "orl", 10)
    options = ("pad", "calibrate", "--data", str(headshots), "--data", str(knn_examples()), "--face-filling")
    calibration = _json_last(*options, "--grayscale", "--dataset", "ORL headshots", "--json")

    card = read_pad_card(card_path)
    assert card.calibration == before.calibration and card.track_rule == before.track_rule
    (entry,) = card.face_fill_calibrations
    assert entry.is_grayscale and entry.calibration.model_dump(mode="json") == calibration
    assert (calibration["bona_fide_count"], calibration["source"]["photo_count"]) == (100, 114)
    assert [p["bpcer"] for p in calibration["points"]] == [0.01, 0.05, 0.1]

    none_filling = runner.invoke(app, ["pad", "calibrate", "--data", str(knn_examples()), "--face-filling"])
    assert none_filling.exit_code != 0 and "0 bona fide photos" in none_filling.output
    # A colour face-fill calibration is measured on colour photos: ORL's grey ones are left out.
    none_colour = runner.invoke(app, ["pad", "calibrate", "--data", str(orl() / "s1"), "--face-filling"])
    assert none_colour.exit_code != 0 and "0 bona fide photos" in none_colour.output
    assert read_pad_card(card_path) == card


def test_calibrating_face_filling_colour_photos_adds_the_colour_calibration_beside_the_grey_one(
    pad_home: Path, tmp_path: Path
) -> None:
    card_path = pad_home / "minifasnet-pad" / "pad.json"
    celeba = shared_faces() / "celeba-subset-aligned112"  # 112x112 colour crops: the face fills them
    if not celeba.is_dir():
        pytest.skip(f"CelebA aligned subset not found at {celeba}")
    colour_folders = [str(folder) for folder in sorted(celeba.iterdir())[:6]]
    headshots = _orl_people(tmp_path / "orl", 10)  # 100 grey headshots: enough for 1%
    grey = _json_last("pad", "calibrate", "--data", str(headshots), "--face-filling", "--grayscale", "--json")

    options = ["pad", "calibrate", "--face-filling", "--json", "--data", str(orl() / "s1")]
    result = runner.invoke(app, [*options, *(f"--data={folder}" for folder in colour_folders)])

    assert result.exit_code == 0, result.output
    assert "face-fill calibration for colour photos (10 grey photos left out)" in result.output  # ORL s1
    colour = json.loads(result.stdout.strip().splitlines()[-1])
    card = read_pad_card(card_path)
    assert [(e.is_grayscale, e.calibration.model_dump(mode="json")) for e in card.face_fill_calibrations] == [
        (True, grey),
        (False, colour),
    ]
    assert colour["bona_fide_count"] >= 100 and not colour["source"]["is_grayscale"]
    # Colour headshots score far lower than grey ones: the grey calibration is lax for them.
    assert colour["points"][0]["attack_threshold"] < grey["points"][0]["attack_threshold"]


def test_calibrating_in_grey_scores_grey_photos_and_records_it(pad_home: Path, tmp_path: Path) -> None:
    grey = tmp_path / "grey"  # the knn examples turned grey beforehand, lossless
    grey.mkdir()
    for path in image_paths(knn_examples()):
        photo = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
        cv2.imwrite(str(grey / f"{path.parent.name}_{path.stem}.png"), photo)

    in_grey = _json_last("pad", "calibrate", "--data", str(knn_examples()), "--grayscale", "--json")
    already = _json_last("pad", "calibrate", "--data", str(grey), "--json")
    colour = _json_last("pad", "calibrate", "--data", str(knn_examples()), "--json")

    assert in_grey["points"] == already["points"]  # the option scores exactly the grey photos
    assert in_grey["points"] != colour["points"]
    assert in_grey["source"]["is_grayscale"] and not colour["source"]["is_grayscale"]
    # --grayscale wrote the card's grey calibration (grey frames), the later runs the colour one beside it.
    card = read_pad_card(pad_home / PAD_CARD_DIR / PAD_CARD_FILE)
    assert card.grey_calibration is not None and card.calibration is not None
    assert card.grey_calibration.model_dump(mode="json") == in_grey
    assert card.calibration.model_dump(mode="json") == colour


def _calibrated_at(
    pad_home: Path, *, threshold: float, face_fill_threshold: float, is_grayscale: bool
) -> None:
    """Give the model directory's PAD card a calibration and a face-fill calibration for grey or colour
    photos at these thresholds."""
    path = pad_home / PAD_CARD_DIR / PAD_CARD_FILE

    def at(dataset: str, value: float) -> PadCalibration:
        point = BpcerPoint(bpcer=0.01, attack_threshold=value)
        return PadCalibration(dataset=dataset, bona_fide_count=100, points=(point,))

    face_fill = FaceFillCalibration(
        is_grayscale=is_grayscale, calibration=at("headshots", face_fill_threshold)
    )
    card = read_pad_card(path).model_copy(
        update={"calibration": at("scenes", threshold), "face_fill_calibrations": (face_fill,)}
    )
    write_pad_card(card, path)


def test_eval_pad_judges_stills_as_enrollment_does_a_face_filling_photo_by_the_face_fill_calibration(
    pad_home: Path, tmp_path: Path
) -> None:
    data = tmp_path / "set"
    bona, attack = data / "bona_fide", data / "attack" / "print"
    for folder in (bona, attack):
        folder.mkdir(parents=True)
    for path in image_paths(orl())[:3]:  # ORL's headshots fill their photos and are grey
        shutil.copy(path, bona / f"orl_{path.parent.name}_{path.name}")
    for path in image_paths(knn_examples())[:2]:  # the knn examples do not
        shutil.copy(path, bona / f"knn_{path.name}")
    shutil.copy(minifasnet_dir() / "samples" / "image_F1.jpg", attack / "F1.jpg")
    # A scene calibration refusing every photo, a grey headshot calibration refusing none.
    _calibrated_at(pad_home, threshold=0.0, face_fill_threshold=1.0, is_grayscale=True)

    enrollment = _json_last("eval", "pad", "--data", str(data), "--json")

    (point,) = enrollment["operating_points"]
    assert (point["threshold"], point["face_fill_grey_threshold"], point["face_fill_colour_threshold"]) == (
        0.0,
        1.0,
        None,
    )
    assert point["face_fill_grey_basis"] == "face filling the grey photo: BPCER 0.01 on headshots"
    assert point["grey_threshold"] is None and point["grey_basis"] is None
    assert point["judged_by"] == {
        "threshold": {"bona_fide": 2, "print": 1},
        "grey_threshold": {"bona_fide": 0, "print": 0},  # the card has no grey calibration
        "face_fill_grey_threshold": {"bona_fide": 3, "print": 0},
        "face_fill_colour_threshold": {"bona_fide": 0, "print": 0},
    }
    assert point["bpcer"] == pytest.approx(2 / 5) and point["apcer"] == {"print": 0.0}
    assert enrollment["judge"] == "enrollment" and enrollment["face_filling"] == {"bona_fide": 3, "print": 0}
    assert enrollment["face_filling_grey"] == enrollment["face_filling"]
    gate = _json_last("eval", "pad", "--data", str(data), "--judge", "gate", "--json")
    assert gate["judge"] == "gate" and gate["face_filling"] == enrollment["face_filling"]
    # The gate's threshold for every still: the headshots are refused too.
    (at_gate,) = gate["operating_points"]
    assert at_gate["face_fill_grey_threshold"] is None and at_gate["bpcer"] == 1.0
    assert at_gate["judged_by"]["face_fill_grey_threshold"] == {"bona_fide": 0, "print": 0}
    # A colour headshot calibration does not judge the grey headshots: the scene calibration does.
    _calibrated_at(pad_home, threshold=0.0, face_fill_threshold=1.0, is_grayscale=False)
    (by_colour,) = _json_last("eval", "pad", "--data", str(data), "--json")["operating_points"]
    assert by_colour["face_fill_colour_threshold"] == 1.0 and by_colour["face_fill_grey_threshold"] is None
    assert by_colour["bpcer"] == 1.0 and by_colour["judged_by"]["threshold"] == {"bona_fide": 5, "print": 1}


def test_eval_pad_judges_several_thresholds_from_one_scoring_pass(
    pad_home: Path, sim_stills: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sim_stills
    pads: list[RecordingPad] = []

    def recording(*args: Any, **kwargs: Any) -> RecordingPad:
        pads.append(RecordingPad(build_pad_detector(*args, **kwargs)))
        return pads[-1]

    monkeypatch.setattr("api.cli.pad_eval.build_pad_detector", recording)
    options = ("eval", "pad", "--data", str(data), "--gallery", str(data / "bona_fide"), "--json")

    both = _json_last(*options, "--threshold", "0.2", "--threshold", "0.9")

    assert pads[0].scored == both["bona_fide"] + sum(both["attacks"].values())  # each still scored once
    calibrated, low, high = both["operating_points"]
    assert (low["threshold"], high["threshold"]) == (0.2, 0.9)
    assert low["threshold_basis"] == high["threshold_basis"] == "given"
    for given, threshold in ((low, "0.2"), (high, "0.9")):
        alone = _json_last(*options, "--threshold", threshold)
        assert alone["operating_points"] == [calibrated, given]
        assert {k: v for k, v in alone.items() if k != "operating_points"} == {
            k: v for k, v in both.items() if k != "operating_points"
        }


def test_calibrating_with_attacks_records_each_species_scores_in_the_calibrations_colour(
    pad_home: Path, sim_stills: Path, recognizer: Recognizer, pad_detector
) -> None:
    """`--attacks` scores make-attacks' stills as the photos are scored (grey with --grayscale) and records
    every species' scores with that colour's calibration; the report gives the APCER at each threshold."""
    sim = sim_stills
    options = ["pad", "calibrate", "--data", str(knn_examples()), "--attacks", str(sim), "--json"]

    colour = runner.invoke(app, [*options, "--attack-dataset", "sim of knn"])
    grey = runner.invoke(app, [*options, "--grayscale"])

    assert colour.exit_code == 0 and grey.exit_code == 0, colour.output + grey.output
    card = read_pad_card(pad_home / PAD_CARD_DIR / PAD_CARD_FILE)
    assert card.calibration is not None and card.grey_calibration is not None
    for calibration, is_grayscale in ((card.calibration, False), (card.grey_calibration, True)):
        evidence = calibration.attack_evidence
        assert evidence is not None and [e.species for e in evidence.species] == ["print", "screen_replay"]
        for entry in evidence.species:
            stills = image_paths(sim / "attack" / entry.species)
            scored = score_stills(stills, recognizer, pad_detector, is_grayscale=is_grayscale)
            assert entry.scores == tuple(sorted(scored.attack_scores))
            assert (
                entry.detection_failures == len(scored.detection_failures) == len(stills) - entry.scored_count
            )
    assert card.calibration.attack_evidence.dataset == "sim of knn"  # type: ignore[union-attr]
    point = card.calibration.points[-1]
    shares = card.calibration.attack_evidence.apcer_at(point.attack_threshold)  # type: ignore[union-attr]
    printed = " ".join(colour.stdout.split())
    assert (
        f"attack score > {point.attack_threshold:.4f} is an attack; attacks let through (APCER): " in printed
    )
    assert f"print {shares['print']:.2%} of " in printed and "attack evidence (sim of knn): print " in printed
    assert json.loads(colour.stdout.strip().splitlines()[-1])["attack_evidence"]["dataset"] == "sim of knn"

    # Calibrating again without attacks leaves that colour without evidence (it was measured with the other
    # calibration), the other colour's kept; face-fill calibrations take none.
    _json_last("pad", "calibrate", "--data", str(knn_examples()), "--json")
    card = read_pad_card(pad_home / PAD_CARD_DIR / PAD_CARD_FILE)
    assert card.calibration is not None and card.calibration.attack_evidence is None
    assert card.grey_calibration is not None and card.grey_calibration.attack_evidence is not None
    face_fill = runner.invoke(app, [*options, "--face-filling"])
    assert face_fill.exit_code == 2 and "not --face-filling" in " ".join(face_fill.output.split())
    nothing = runner.invoke(app, [*options[:-3], "--attacks", str(knn_examples())])
    assert nothing.exit_code == 1 and "no attack/<species>/ folders" in " ".join(nothing.output.split())
