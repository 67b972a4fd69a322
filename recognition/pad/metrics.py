"""PAD thresholds from a target BPCER, and ISO/IEC 30107-3 error rates at a threshold.

Convention: a presentation is classified an attack when its attack score is above the threshold.
APCER (per attack species): share of attacks classified bona fide; BPCER: share of bona fide presentations
classified attacks; ACER: mean of the maximum APCER and BPCER (the standard's older summary figure).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from recognition.errors import EvaluationDataError
from recognition.pad.card import CALIBRATED_BPCERS, BpcerPoint, PadCalibration, PadCalibrationSource


def threshold_at_bpcer(bona_fide_scores: Sequence[float], bpcer: float) -> float:
    """The lowest threshold at which at most floor(bpcer × n) bona fide scores lie above it.

    Raises:
        EvaluationDataError: no scores, or a BPCER outside (0, 1).
    """
    if not bona_fide_scores:
        raise EvaluationDataError("no bona fide scores to set a PAD threshold from")
    if not 0.0 < bpcer < 1.0:
        raise EvaluationDataError(f"BPCER target {bpcer} is not in (0, 1)")
    ordered = np.sort(np.asarray(bona_fide_scores, dtype=np.float64))
    allowed = math.floor(bpcer * len(ordered) + 1e-9)
    return float(ordered[len(ordered) - allowed - 1])


def calibrate_pad(
    bona_fide_scores: Sequence[float], *, dataset: str, source: PadCalibrationSource | None = None
) -> PadCalibration:
    """Thresholds at every CALIBRATED_BPCERS target measurable with this many photos (1/n at least);
    `source` records how to choose and score the same photos again."""
    count = len(bona_fide_scores)
    points = tuple(
        BpcerPoint(bpcer=target, attack_threshold=threshold_at_bpcer(bona_fide_scores, target))
        for target in CALIBRATED_BPCERS
        if target * count >= 1
    )
    if not points:
        raise EvaluationDataError(
            f"{count} bona fide photos cannot measure a BPCER of {min(CALIBRATED_BPCERS):g} (need "
            f"{math.ceil(1 / min(CALIBRATED_BPCERS))})"
        )
    return PadCalibration(dataset=dataset, bona_fide_count=count, points=points, source=source)


@dataclass(frozen=True)
class PadErrorRates:
    """ISO/IEC 30107-3 figures at one operating point."""

    bpcer: float
    apcer_by_species: dict[str, float]

    @property
    def apcer_max(self) -> float:
        return max(self.apcer_by_species.values(), default=0.0)

    @property
    def acer(self) -> float:
        return (self.apcer_max + self.bpcer) / 2


def verdict_error_rates(
    bona_fide_is_attack: Sequence[bool], attack_is_attack: Mapping[str, Sequence[bool]]
) -> PadErrorRates:
    """BPCER and APCER per species from each presentation's verdict (True: classified an attack), for
    presentations held to thresholds of their own (enrollment's face-fill calibration); an empty species is
    left out."""
    bona = np.asarray(bona_fide_is_attack, dtype=bool)
    return PadErrorRates(
        bpcer=float(bona.mean()) if bona.size else 0.0,
        apcer_by_species={
            species: float((~np.asarray(verdicts, dtype=bool)).mean())
            for species, verdicts in attack_is_attack.items()
            if len(verdicts)
        },
    )


def error_rates(
    bona_fide_scores: Sequence[float], attack_scores: Mapping[str, Sequence[float]], *, threshold: float
) -> PadErrorRates:
    """BPCER and APCER per species at `threshold` (an empty species is left out)."""
    return verdict_error_rates(
        [score > threshold for score in bona_fide_scores],
        {species: [score > threshold for score in scores] for species, scores in attack_scores.items()},
    )


def bpcer_at_apcer(
    bona_fide_scores: Sequence[float], attack_scores: Mapping[str, Sequence[float]], *, apcer: float
) -> float:
    """The lowest BPCER over thresholds at which every species' APCER is at most `apcer`."""
    bona = np.asarray(bona_fide_scores, dtype=np.float64)
    # The highest threshold meeting the APCER target for all species keeps the most bona fide photos.
    threshold = min(
        (_highest_threshold(scores, apcer) for scores in attack_scores.values() if len(scores)),
        default=math.inf,
    )
    return float((bona > threshold).mean()) if bona.size else 0.0


def _highest_threshold(attack_scores: Sequence[float], apcer: float) -> float:
    """Just below the (k+1)-th lowest attack score, k = floor(apcer × m): at most k attacks at or under it."""
    ordered = np.sort(np.asarray(attack_scores, dtype=np.float64))
    allowed = math.floor(apcer * len(ordered) + 1e-9)
    return math.inf if allowed >= len(ordered) else float(np.nextafter(ordered[allowed], -math.inf))


def error_rate_upper_bound(errors: int, trials: int, *, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper confidence bound on an error rate seen `errors` times in
    `trials` independent presentations: the rate p at which P(at most `errors` errors) = 1 - confidence.

    With no errors it is 1 - (1 - confidence)^(1/trials), about 3/trials at 95% (the rule of three): the
    smallest APCER or BPCER a set of this size can vouch for. Found by bisection on the binomial CDF.

    Raises:
        EvaluationDataError: no trials, errors outside 0..trials, or a confidence outside (0, 1).
    """
    if trials < 1 or not 0 <= errors <= trials:
        raise EvaluationDataError(f"{errors} errors in {trials} trials: need 0 <= errors <= trials >= 1")
    if not 0.0 < confidence < 1.0:
        raise EvaluationDataError(f"confidence {confidence} is not in (0, 1)")
    if errors == trials:
        return 1.0

    def cdf(rate: float) -> float:
        return sum(math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k) for k in range(errors + 1))

    low, high = errors / trials, 1.0
    for _ in range(100):  # the CDF falls as the rate rises; 100 halvings reach float precision
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) > 1 - confidence else (low, middle)
    return high
