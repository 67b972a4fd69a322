"""The cosine threshold one door decides at, and where it comes from (recomputed when the gallery grows)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gate.errors import ThresholdUnavailable
from recognition import Recognizer, door_threshold

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoorThreshold:
    """A door's operating threshold and a compact account of it for the audit rule (100 characters)."""

    cos_threshold: float
    basis: str
    """'model default' or e.g. 'FPIR 1e-02 @ N=120'."""


def door_operating_threshold(
    recognizer: Recognizer, *, fpir_target: float | None, gallery_size: int
) -> DoorThreshold:
    """The threshold that holds a search of `gallery_size` entries at `fpir_target` (issue 3's policy).

    `gallery_size` is the gallery's template count, an upper bound on the identities searched: with
    several templates per person the threshold errs on the strict side.

    Raises:
        ThresholdUnavailable: a target is set but the model has no calibration.
    """
    try:
        operating = door_threshold(
            recognizer.embedder.bundle.calibration,
            default_cos_threshold=recognizer.cos_threshold,
            fpir_target=fpir_target,
            gallery_size=gallery_size,
        )
    except ValueError as exc:
        raise ThresholdUnavailable(str(exc)) from exc
    logger.info(
        "threshold cos>=%.3f for %d templates: %s", operating.cos_threshold, gallery_size, operating.basis
    )
    basis = "model default" if fpir_target is None else f"FPIR {fpir_target:.0e} @ N={gallery_size}"
    return DoorThreshold(cos_threshold=operating.cos_threshold, basis=basis)


def door_start_threshold(recognizer: Recognizer, *, fpir_target: float | None, where: str) -> DoorThreshold:
    """The threshold a door's loop starts at (a gallery of one), as the loop and `--check-config` resolve it.

    Whether a target can be met does not depend on the gallery size: only a model without a calibration
    refuses (a gallery too large for the calibration gets its strictest measured threshold), so a door
    that starts never refuses as its gallery grows or shrinks.

    Raises:
        ThresholdUnavailable: a target is set but the model has no calibration, naming `where`
            ('door front, camera front-cam: an FPIR target of 0.001 needs a calibrated model: ...').
    """
    try:
        return door_operating_threshold(recognizer, fpir_target=fpir_target, gallery_size=1)
    except ThresholdUnavailable as exc:
        raise ThresholdUnavailable(f"{where}: {exc}") from exc
