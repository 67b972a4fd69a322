"""Fit the PAD track rule: L2-regularised logistic regression over a track's passive score and cues.

Newton's method (iteratively reweighted least squares) on standardised features, in numpy; thresholds on
the fitted score come from the fit data's bona fide tracks, as `calibrate_pad` sets the passive ones. The
rule's attack side (`with_track_attack_evidence`): its own scores on attack tracks it was not fitted on,
recorded in the rule per colour of the tracks, bound to its coefficients' hash, for `pad calibrate-door` to
read per track for doors' tracks of that colour. Its grey side (`with_track_grey_calibration`): thresholds
on the same rule's score from wholly grey bona fide tracks, for a door's grey tracks, the coefficients
untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from recognition.errors import EvaluationDataError
from recognition.pad.attack_evidence import TrackColour, attack_evidence
from recognition.pad.card import PadCalibration, PadTrackRule
from recognition.pad.metrics import calibrate_pad

Row = Mapping[str, float | None]

_NEWTON_STEPS = 50


def _design(rows: Sequence[Row], features: Sequence[str]) -> np.ndarray:
    """rows × features, a missing value as NaN."""
    return np.array(
        [[np.nan if row.get(name) is None else float(row[name] or 0.0) for name in features] for row in rows],
        dtype=np.float64,
    )


def fit_track_rule(
    rows: Sequence[Row],
    is_attack: Sequence[bool],
    *,
    features: Sequence[str],
    fitted_on: str,
    l2: float = 1.0,
) -> PadTrackRule:
    """Fit weights on standardised features; a missing value is imputed with the feature's mean.

    Args:
        rows: one mapping per track, feature name → value (None: not measured on that track).
        is_attack: per row, whether the track is an attack presentation.
        features: the names to use, in the rule's order.
        fitted_on: provenance recorded in the rule (data set, split, command).
        l2: ridge penalty on the weights (not the intercept), in units of the log-likelihood.

    Raises:
        EvaluationDataError: no attack or no bona fide row, a feature never measured, or too few bona
            fide rows to set a threshold at BPCER 10%.
    """
    labels = np.asarray(is_attack, dtype=np.float64)
    if labels.size != len(rows) or labels.min(initial=1.0) == 1.0 or labels.max(initial=0.0) == 0.0:
        raise EvaluationDataError("the track rule needs attack and bona fide tracks, one label per row")
    values = _design(rows, features)
    if np.isnan(values).all(axis=0).any():
        raise EvaluationDataError("a feature of the track rule was measured on no track")
    centre = np.nanmean(values, axis=0)
    scale = np.nanstd(values, axis=0)
    scale[scale <= 0] = 1.0
    standard = np.where(np.isnan(values), 0.0, (values - centre) / scale)
    design = np.hstack([np.ones((len(rows), 1)), standard])
    penalty = np.diag([0.0] + [l2] * len(features))
    beta = np.zeros(design.shape[1])
    for _ in range(_NEWTON_STEPS):
        probability = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -50, 50)))
        gradient = design.T @ (probability - labels) + penalty @ beta
        hessian = design.T @ (design * (probability * (1 - probability))[:, None]) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    rule = PadTrackRule(
        features=tuple(features),
        centre=tuple(float(c) for c in centre),
        scale=tuple(float(s) for s in scale),
        weights=tuple(float(w) for w in beta[1:]),
        intercept=float(beta[0]),
        calibration=PadCalibration(dataset="not yet", bona_fide_count=1, points=()),
        fitted_on=fitted_on,
    )
    # The thresholds come from rule.score itself, so the gate's scores meet them exactly.
    bona_scores = [rule.score(row) for row, attack in zip(rows, is_attack, strict=True) if not attack]
    dataset = f"{len(bona_scores)} bona fide tracks of {fitted_on}"
    return rule.model_copy(update={"calibration": calibrate_pad(bona_scores, dataset=dataset)})


def with_track_attack_evidence(
    rule: PadTrackRule,
    attack_rows: Mapping[str, Sequence[Row]],
    never_scored: Mapping[str, int],
    *,
    dataset: str,
    paths_sha256: str,
    colour: TrackColour,
) -> PadTrackRule:
    """`rule` with its attack evidence for tracks of `colour`: its own score on each species' attack tracks,
    one a track, bound to its coefficients (`rule_sha256`), so that a rule refit with other ones is not
    judged on these scores, and to the tracks' colour, so that a door's tracks of the other colour are not
    judged on them; the other colour's evidence, its thresholds and provenance are kept.

    Args:
        attack_rows: per species, each attack track's feature values by name, as the gate's events record
            them (tracks the rule was not fitted on).
        never_scored: per species, attack clips PAD never scored (no track to score).
        dataset: what the tracks are and whence.
        paths_sha256: sha256 over the clips' names (species/relative path), one a line (`names_sha256`).
        colour: the tracks' colour as the gate recorded them (grey: every PAD frame grey).

    Raises:
        EvaluationDataError: no attack track at all.
    """
    evidence = attack_evidence(
        {species: [rule.score(row) for row in rows] for species, rows in attack_rows.items()},
        never_scored,
        dataset=dataset,
        paths_sha256=paths_sha256,
        rule_sha256=rule.rule_sha256,
        colour=colour,
    )
    kept = (e for e in rule.attack_evidence if e.colour != colour)
    by_colour = tuple(sorted((*kept, evidence), key=lambda e: e.colour != "colour"))  # colour, then grey
    return rule.model_copy(update={"attack_evidence": by_colour})


def with_track_grey_calibration(
    rule: PadTrackRule, bona_fide_rows: Sequence[Row], *, dataset: str
) -> PadTrackRule:
    """`rule` with thresholds for wholly grey tracks (a night/IR camera): its own score on grey bona fide
    tracks at each target BPCER, as `fit_track_rule` sets the colour ones; the coefficients (so
    `rule_sha256`), the colour thresholds, the evidence and the provenance are kept.

    Args:
        bona_fide_rows: each grey bona fide track's feature values by name, as the gate's events record them.
        dataset: what the tracks are and whence.

    Raises:
        EvaluationDataError: too few rows to set a threshold at BPCER 10%.
    """
    scores = [rule.score(row) for row in bona_fide_rows]
    calibration = calibrate_pad(scores, dataset=f"{len(scores)} grey bona fide tracks of {dataset}")
    return rule.model_copy(update={"grey_calibration": calibration})
