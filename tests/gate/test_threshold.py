"""The door's operating threshold: the model's default, or issue 3's FPIR policy at the gallery's size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from gate import ThresholdUnavailable, door_operating_threshold
from recognition import Calibration, ModelBundle, Recognizer, calibrate


@dataclass
class RecalibratedEmbedder:
    """The real embedder described by another bundle (a calibration the packaged SFace does not ship)."""

    inner: object
    bundle: ModelBundle

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def recalibrated(recognizer: Recognizer, calibration: Calibration | None) -> Recognizer:
    bundle = recognizer.embedder.bundle.model_copy(update={"calibration": calibration})
    embedder = RecalibratedEmbedder(recognizer.embedder, bundle)
    return Recognizer(detector=recognizer.detector, embedder=embedder, limits=recognizer.limits)  # type: ignore[arg-type]


def calibrated_recognizer(recognizer: Recognizer) -> Recognizer:
    rng = np.random.default_rng(7)
    calibration = calibrate(
        rng.normal(0.7, 0.1, 3_000),
        rng.normal(0.1, 0.1, 200_000),
        dataset="synthetic normal scores",
        command="tests/gate/test_threshold.py",
    )
    return recalibrated(recognizer, calibration)


def test_without_a_target_the_door_runs_at_the_model_default(recognizer: Recognizer) -> None:
    threshold = door_operating_threshold(recognizer, fpir_target=None, gallery_size=500)
    assert (threshold.cos_threshold, threshold.basis) == (recognizer.cos_threshold, "model default")


def test_a_target_without_a_calibration_stops_the_gate(recognizer: Recognizer) -> None:
    uncalibrated = recalibrated(recognizer, None)
    with pytest.raises(ThresholdUnavailable, match="calibrated model"):
        door_operating_threshold(uncalibrated, fpir_target=1e-2, gallery_size=10)


def test_the_packaged_sface_calibration_sets_the_door_threshold(recognizer: Recognizer) -> None:
    calibration = recognizer.embedder.bundle.calibration
    assert calibration is not None, "recognition/bundles/sface.json ships its LFW calibration"
    threshold = door_operating_threshold(recognizer, fpir_target=1e-2, gallery_size=1)
    assert threshold.cos_threshold == pytest.approx(calibration.threshold_at(1e-2), abs=1e-6)


def test_the_fpir_threshold_rises_with_the_gallery(recognizer: Recognizer) -> None:
    calibrated = calibrated_recognizer(recognizer)
    small = door_operating_threshold(calibrated, fpir_target=1e-2, gallery_size=10)
    large = door_operating_threshold(calibrated, fpir_target=1e-2, gallery_size=1_000)
    assert small.basis == "FPIR 1e-02 @ N=10" and large.basis == "FPIR 1e-02 @ N=1000"
    assert 0.1 < small.cos_threshold < large.cos_threshold < 0.7
