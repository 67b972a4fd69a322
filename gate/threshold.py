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
