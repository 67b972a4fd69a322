"""The project's MiniFASNet loads the authors' state dicts strictly, and its ONNX export matches torch."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch", reason="MiniFASNet conversion needs the `train` extra (torch)")

from api.cli import app  # noqa: E402
from recognition import (  # noqa: E402
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BpcerPoint,
    FaceFillCalibration,
    PadAttackEvidence,
    PadCalibration,
    PadCard,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    find_pad_card,
    read_pad_card,
    with_track_attack_evidence,
    write_pad_card,
)
from tests.data import minifasnet_dir  # noqa: E402
from training.errors import CheckpointError  # noqa: E402
from training.minifasnet import load_minifasnet  # noqa: E402
from training.pad_export import export_pad_models  # noqa: E402

pytestmark = pytest.mark.model


def _samples() -> list[Path]:
    return sorted((minifasnet_dir() / "samples").glob("*.jpg"))


def test_onnx_equals_torch_within_1e_4(
    pad_model_dir: Path, pad_detector: PresentationAttackDetector, recognizer: Recognizer
) -> None:
    card_path = find_pad_card((pad_model_dir,))
    card = read_pad_card(card_path)
    import onnxruntime as ort

    for net, source in zip(
        card.nets, ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"), strict=True
    ):
        model = load_minifasnet(minifasnet_dir() / source, net.variant)
        session = ort.InferenceSession(str(card_path.parent / net.file), providers=["CPUExecutionProvider"])
        for path in _samples():
            image = cv2.imread(str(path))
            face = recognizer.detect(image)[0]
            crops = pad_detector.crops(image, face)  # type: ignore[attr-defined]
            crop = crops[card.nets.index(net)]
            tensor = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)
            with torch.no_grad():
                expected = model(torch.from_numpy(tensor)).numpy()
            (actual,) = session.run(None, {"input": tensor})
            np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_samples_are_called_as_their_authors_call_them(
    pad_detector: PresentationAttackDetector, recognizer: Recognizer
) -> None:
    scores = {}
    for path in _samples():
        image = cv2.imread(str(path))
        scores[path.name] = pad_detector.score(image, recognizer.detect(image)[0]).attack_score
    assert scores["image_T1.jpg"] < 0.5 < min(scores["image_F1.jpg"], scores["image_F2.jpg"]), scores


def test_export_refuses_a_state_dict_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    fake = tmp_path / "src"
    fake.mkdir()
    for name in ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"):
        torch.save(
            load_minifasnet(minifasnet_dir() / name, "v2" if "V2" in name else "v1se").state_dict(),
            fake / name,
        )
    with pytest.raises(CheckpointError, match="is not the pinned"):
        export_pad_models(fake, tmp_path / "out")


def test_loading_refuses_an_edited_onnx_file(pad_model_dir: Path, tmp_path: Path) -> None:
    from recognition import ModelLoadError, build_pad_detector

    copy = tmp_path / "minifasnet-pad"
    copy.mkdir()
    for item in (pad_model_dir / "minifasnet-pad").iterdir():
        copy.joinpath(item.name).write_bytes(item.read_bytes())
    net_file = copy / read_pad_card(copy / "pad.json").nets[0].file
    net_file.write_bytes(net_file.read_bytes() + b"\0")
    settings = RecognitionSettings(model_dir=tmp_path, bundle_dirs=[], allow_model_download=False)
    with pytest.raises(ModelLoadError, match="does not match the card"):
        build_pad_detector(settings, cache_dir=tmp_path / "cache")


def _calibration(dataset: str, threshold: float, *, with_attacks: bool) -> PadCalibration:
    evidence = PadAttackEvidence.model_validate(
        {
            "dataset": f"attacks on {dataset}",
            "paths_sha256": "ab" * 32,
            "species": [
                {"species": "print", "scored_count": 3, "detection_failures": 1, "scores": [0.2, 0.5, 0.9]}
            ],
        }
    )
    return PadCalibration(
        dataset=dataset,
        bona_fide_count=100,
        points=(BpcerPoint(bpcer=0.01, attack_threshold=threshold),),
        attack_evidence=evidence if with_attacks else None,
    )


def _fully_calibrated(card: PadCard) -> PadCard:
    """`card` with every calibration a card can hold (each main one with attack evidence) and a track rule
    with its attack tracks (bound to it by its hash)."""
    rule = PadTrackRule(
        features=("passive",),
        centre=(0.5,),
        scale=(0.25,),
        weights=(2.0,),
        intercept=-1.0,
        calibration=_calibration("rule tracks", 0.6, with_attacks=False),
        fitted_on="hand-set for this test",
    )
    for colour in ("grey", "colour"):  # both colours' attack tracks, each kept
        rule = with_track_attack_evidence(
            rule,
            {"print": [{"passive": 0.9}, {"passive": 0.1}], "screen_replay": [{"passive": 0.7}]},
            {"print": 1, "screen_replay": 0},
            dataset=f"held-out {colour} attack tracks",
            paths_sha256="cd" * 32,
            colour=colour,  # type: ignore[arg-type]
        )
    return card.model_copy(
        update={
            "calibration": _calibration("colour", 0.4, with_attacks=True),
            "grey_calibration": _calibration("grey", 0.99, with_attacks=True),
            "face_fill_calibrations": (
                FaceFillCalibration(
                    is_grayscale=False, calibration=_calibration("ff colour", 0.3, with_attacks=False)
                ),
                FaceFillCalibration(
                    is_grayscale=True, calibration=_calibration("ff grey", 0.98, with_attacks=False)
                ),
            ),
            "track_rule": rule,
        }
    )


def test_export_again_keeps_everything_the_card_holds_for_identical_nets_and_drops_it_all_for_others(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    export = ["pad", "export", "--source", str(minifasnet_dir()), "--out", str(tmp_path)]
    first = runner.invoke(app, export)
    assert first.exit_code == 0, first.output
    card_path = tmp_path / PAD_CARD_DIR / PAD_CARD_FILE
    calibrated = _fully_calibrated(read_pad_card(card_path))
    write_pad_card(calibrated, card_path)

    again = runner.invoke(app, export)
    assert again.exit_code == 0, again.output
    assert read_pad_card(card_path).model_dump(mode="json") == calibrated.model_dump(mode="json")
    kept_rule = read_pad_card(card_path).track_rule  # with its attack tracks, still bound to it
    assert kept_rule is not None and [e.colour for e in kept_rule.attack_evidence] == ["colour", "grey"]
    assert {e.rule_sha256 for e in kept_rule.attack_evidence} == {kept_rule.rule_sha256}
    measured = "calibration, grey_calibration, face_fill_calibrations, track_rule"
    assert f"kept from the card there (the nets are byte-identical): {measured}" in " ".join(
        again.output.split()
    )
    assert "dropped" not in again.output

    other_net = calibrated.nets[0].model_copy(update={"sha256": "0" * 64})
    write_pad_card(calibrated.model_copy(update={"nets": (other_net, *calibrated.nets[1:])}), card_path)
    changed = runner.invoke(app, export)
    assert changed.exit_code == 0, changed.output
    card = read_pad_card(card_path)
    assert card.nets == calibrated.nets
    assert (card.calibration, card.grey_calibration, card.face_fill_calibrations, card.track_rule) == (
        None,
        None,
        (),
        None,
    )
    assert "dropped from the card there (its nets differ" in " ".join(changed.output.split())
    assert measured in " ".join(changed.output.split())
