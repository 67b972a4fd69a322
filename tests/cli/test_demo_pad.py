"""`facegate demo`'s PAD: its own card, whatever a user calibrated, through the gate as the demo runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from api.cli.demo import demo_pad_detector
from gate import (
    PRESENTATION_ATTACK,
    GateRuntime,
    GateSettings,
    LogOnlyDoorConfig,
    PadSettings,
    gate_decisions,
)
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BpcerPoint,
    PadCalibration,
    read_pad_card,
    write_pad_card,
)
from storage import Decision, StorageSettings
from tests.data import encode_jpeg, minifasnet_dir

pytestmark = pytest.mark.model

# Attack score > 1.0 is an attack: a calibration that lets every presentation through.
LAX = PadCalibration(
    dataset="lax", bona_fide_count=100, points=(BpcerPoint(bpcer=0.01, attack_threshold=1.0),)
)


def _lax_copy(pad_model_dir: Path, models: Path) -> Path:
    """A copy of the converted PAD model in `models`, its card calibrated to let every attack through."""
    shutil.copytree(pad_model_dir, models)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    write_pad_card(read_pad_card(card_path).model_copy(update={"calibration": LAX}), card_path)
    return card_path


def test_the_demo_denies_a_photo_attack_by_its_own_card_whatever_the_user_calibrated(
    pad_model_dir: Path,
    clean_environment: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    engine,
    keyring,
    recognizer,
    enroll_person,
    register_door,
) -> None:
    # The user's home and model directory (searched first by the gate) both hold the lax card.
    user_cards = [
        _lax_copy(pad_model_dir, clean_environment / "models"),
        _lax_copy(pad_model_dir, tmp_path / "model-dir"),
    ]
    monkeypatch.setenv("FACEGATE_RECOGNITION_MODEL_DIR", str(tmp_path / "model-dir"))
    demo_home = tmp_path / "demo"

    pad = demo_pad_detector(demo_home / "models", data_dir=tmp_path / "no-shared-data")

    assert pad is not None and pad.calibration is None and pad.track_rule is None
    assert all(read_pad_card(card).calibration == LAX for card in user_cards)
    # The authors' printed-photo attack, held up for five frames, as the demo's gate runs it.
    attack = cv2.imread(str(minifasnet_dir() / "samples" / "image_F1.jpg"))
    enroll_person("F1", encode_jpeg(attack))
    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(5):
        cv2.imwrite(str(frames / f"{index:04d}.jpg"), attack)
    runtime = GateRuntime(
        storage=StorageSettings(home=demo_home), engine=engine, keyring=keyring, recognizer=recognizer
    )
    settings = GateSettings(door=LogOnlyDoorConfig(), pad=PadSettings(policy="enforce"))
    register_door("front", engine=engine)  # as the demo registers its door
    decisions = list(gate_decisions(runtime, source=str(frames), door="front", settings=settings, pad=pad))
    assert [(d.verdict.decision, d.verdict.reason) for d in decisions] == [
        (Decision.denied, PRESENTATION_ATTACK)
    ]
