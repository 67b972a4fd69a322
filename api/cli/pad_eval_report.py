"""The figures `facegate eval pad` reports: one block per operating point over scores computed once.

Each presentation (still or track) is scored once; an operating point is a way of judging a score
(`Judging`: the card's calibration as enrollment or the gate applies it, or a given threshold), and every
point is applied to the same stored scores, so several thresholds cost one scoring pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any

from api.cli.consoles import console, err_console
from recognition import (
    PadScore,
    ScoredStills,
    StillVerdict,
    bpcer_at_apcer,
    error_rates,
    verdict_error_rates,
)

Judging = Callable[[PadScore], StillVerdict]
"""How one operating point judges a presentation's score (recognition's judge_still or judge_at_threshold)."""
_PROBE_SCORE = 0.0


def _counts(bona: ScoredStills, attacks: Mapping[str, ScoredStills], field: str) -> dict[str, int]:
    """`len(getattr(set, field))` for the bona fide set and each species, by set name."""
    sets = {"bona_fide": bona, **attacks}
    return {name: len(getattr(scored, field)) for name, scored in sets.items()}


def _face_filling(
    bona: ScoredStills, attacks: Mapping[str, ScoredStills], *, is_grey_only: bool = False
) -> dict[str, int]:
    """How many scored presentations of each set were scored with the face-fill crop (only the grey ones
    with `is_grey_only`)."""
    sets = {"bona_fide": bona, **attacks}
    return {
        name: sum(
            s.is_face_filling_frame and (s.is_grayscale or not is_grey_only) for s in scored.scores.values()
        )
        for name, scored in sets.items()
    }


FACE_FILL_COLOURS = {"grey": True, "colour": False}
"""The photo colours a card's face-fill calibrations are kept apart by (name: PadScore.is_grayscale)."""


def _thresholds(judging: Judging) -> dict[str, Any]:
    """The point's threshold for a still scored as usual and, for a still scored with the face-fill crop,
    grey or colour, the one that applies to it when not that one (probed with a score of each kind)."""
    usual = judging(PadScore(attack_score=_PROBE_SCORE, cues={}))
    point: dict[str, Any] = {"threshold": usual.threshold, "threshold_basis": usual.basis}
    grey = judging(PadScore(attack_score=_PROBE_SCORE, cues={}, is_grayscale=True))
    # Held by the grey calibration, or by the colour threshold where the grey one falls short of the target.
    is_apart = grey.is_grey_calibrated or grey.basis != usual.basis
    point["grey_threshold"] = grey.threshold if is_apart else None
    point["grey_basis"] = grey.basis if is_apart else None
    for colour, is_grayscale in FACE_FILL_COLOURS.items():
        probe = PadScore(
            attack_score=_PROBE_SCORE, cues={}, is_face_filling_frame=True, is_grayscale=is_grayscale
        )
        filling = judging(probe)
        is_apart = filling.is_face_fill_calibrated
        point[f"face_fill_{colour}_threshold"] = filling.threshold if is_apart else None
        point[f"face_fill_{colour}_basis"] = filling.basis if is_apart else None
    return point


def operating_point(
    bona: ScoredStills,
    attacks: Mapping[str, ScoredStills],
    judging: Judging,
    *,
    matched: Mapping[str, set[Path]] | None = None,
) -> dict[str, Any]:
    """ISO/IEC 30107-3 figures with every stored score judged by `judging`, how many presentations of each
    set were held to the grey and to the colour face-fill threshold and how many to the other one, and,
    given the attacks that
    matched their target (`matched`, by species), IAPMR with PAD."""
    sets = {"bona_fide": bona, **attacks}
    verdicts = {
        name: {path: judging(s) for path, s in scored.scores.items()} for name, scored in sets.items()
    }
    rates = verdict_error_rates(
        [v.is_attack for v in verdicts["bona_fide"].values()],
        {species: [v.is_attack for v in verdicts[species].values()] for species in attacks},
    )
    face_filled = {
        colour: {
            name: sum(
                verdict.is_face_fill_calibrated and sets[name].scores[path].is_grayscale == is_grayscale
                for path, verdict in by.items()
            )
            for name, by in verdicts.items()
        }
        for colour, is_grayscale in FACE_FILL_COLOURS.items()
    }
    grey = {name: sum(v.is_grey_calibrated for v in by.values()) for name, by in verdicts.items()}
    others = {n: len(by) - grey[n] - sum(f[n] for f in face_filled.values()) for n, by in verdicts.items()}
    point = {
        **_thresholds(judging),
        "judged_by": {
            "threshold": others,
            "grey_threshold": grey,
            **{f"face_fill_{colour}_threshold": counts for colour, counts in face_filled.items()},
        },
        "bpcer": rates.bpcer,
        "apcer": rates.apcer_by_species,
        "apcer_max": rates.apcer_max,
        "acer": rates.acer,
    }
    if matched is not None:
        point["iapmr_with_pad"] = {
            species: sum(not verdicts[species][path].is_attack for path in paths)
            / (len(attacks[species].scores) or 1)
            for species, paths in matched.items()
        }
    return point


def pad_report(
    bona: ScoredStills,
    attacks: Mapping[str, ScoredStills],
    points: list[Judging],
    *,
    unit: str,
    judge: str,
    matched: Mapping[str, set[Path]] | None = None,
) -> dict[str, Any]:
    """The whole report: what was scored, the threshold-free figures, then one entry per operating point."""
    attack_scores = {species: scored.attack_scores for species, scored in attacks.items()}
    result: dict[str, Any] = {
        "unit": unit,
        "judge": judge,
        "bona_fide": len(bona.scores),
        "attacks": {species: len(scored.scores) for species, scored in attacks.items()},
        "detection_failures": _counts(bona, attacks, "detection_failures"),
        "faces_too_close": _counts(bona, attacks, "faces_too_close"),
        "face_filling": _face_filling(bona, attacks),
        "face_filling_grey": _face_filling(bona, attacks, is_grey_only=True),
        "bpcer_at_apcer_5": bpcer_at_apcer(bona.attack_scores, attack_scores, apcer=0.05),
        "bpcer_at_apcer_10": bpcer_at_apcer(bona.attack_scores, attack_scores, apcer=0.10),
    }
    if matched is not None:
        result["iapmr"] = {
            species: len(paths) / (len(attacks[species].scores) or 1) for species, paths in matched.items()
        }
    result["operating_points"] = [operating_point(bona, attacks, p, matched=matched) for p in points]
    return result


def _line(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def print_pad_report(result: dict[str, Any]) -> None:
    """The report as text: the scored sets once, then a block per operating point."""
    is_enrollment = result["judge"] == "enrollment"
    judged = "as enrollment judges an upload" if is_enrollment else "by the gate's threshold"
    if result["unit"] == "track":
        judged = "as the gate judges a track"
    _line(
        f"per {result['unit']}, judged {judged}: {result['bona_fide']} bona fide, attacks {result['attacks']}"
    )
    _line(f"detection failures: {result['detection_failures']}")
    if any(result["faces_too_close"].values()):
        _line(
            "not judged, the face filled every frame (the gate denies pad_face_too_close): "
            f"{result['faces_too_close']}"
        )
    if any(result["face_filling"].values()):
        _line(
            f"scored with the face-fill crop (the face fills the photo): {result['face_filling']}, "
            f"of which grey: {result['face_filling_grey']}"
        )
    _line(f"BPCER@APCER5% {result['bpcer_at_apcer_5']:.2%}, BPCER@APCER10% {result['bpcer_at_apcer_10']:.2%}")
    for species, iapmr in result.get("iapmr", {}).items():
        _line(f"IAPMR {species} without PAD: {iapmr:.2%}")
    for point in result["operating_points"]:
        _print_point(point, result)
    if result["unit"] == "photo":
        err_console.print("(simulated attacks say nothing about real ones unless DIR holds real attacks)")


def _print_point(point: dict[str, Any], result: dict[str, Any]) -> None:
    rule = f"attack score > {point['threshold']:.4f} ({point['threshold_basis']}) is an attack"
    if point["grey_threshold"] is not None:
        rule += f"; grey (every frame grey): > {point['grey_threshold']:.4f} ({point['grey_basis']})"
    apart = [colour for colour in FACE_FILL_COLOURS if point[f"face_fill_{colour}_threshold"] is not None]
    for colour in apart:
        rule += (
            f"; a face filling a {colour} photo: > {point[f'face_fill_{colour}_threshold']:.4f} "
            f"({point[f'face_fill_{colour}_basis']})"
        )
    _line(f"-- {rule}")
    if point["grey_threshold"] is not None:
        _line(f"   held to the grey threshold: {point['judged_by']['grey_threshold']}")
    if apart:
        by_face_fill = ", ".join(
            f"the {colour} face-fill threshold: {point['judged_by'][f'face_fill_{colour}_threshold']}"
            for colour in apart
        )
        _line(f"   judged by {by_face_fill}; by the other: {point['judged_by']['threshold']}")
    _line(f"   BPCER {point['bpcer']:.2%} of {result['bona_fide']} bona fide")
    for species, apcer in point["apcer"].items():
        _line(f"   APCER {species}: {apcer:.2%} of {result['attacks'][species]}")
    _line(f"   APCER max {point['apcer_max']:.2%}, ACER {point['acer']:.2%}")
    for species, iapmr in point.get("iapmr_with_pad", {}).items():
        _line(f"   IAPMR {species} with PAD: {iapmr:.2%}")


def write_det_png(bona: list[float], attacks: dict[str, list[float]], path: Path) -> None:
    """DET curve per species: APCER against BPCER on normal-deviate axes (ISO/IEC 30107-3)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    normal = NormalDist()
    ticks = [0.001, 0.01, 0.05, 0.1, 0.2, 0.4]
    figure = Figure(figsize=(6.0, 5.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    thresholds = sorted({*bona, *(s for v in attacks.values() for s in v)})
    clip: Callable[[float], float] = lambda rate: normal.inv_cdf(min(max(rate, 5e-4), 1 - 5e-4))  # noqa: E731
    for species, scores in attacks.items():
        points = [error_rates(bona, {species: scores}, threshold=t) for t in thresholds]
        axes.plot(
            [clip(p.bpcer) for p in points],
            [clip(p.apcer_by_species[species]) for p in points],
            label=species,
        )
    axes.set_xticks([normal.inv_cdf(t) for t in ticks], [f"{t:g}" for t in ticks])
    axes.set_yticks([normal.inv_cdf(t) for t in ticks], [f"{t:g}" for t in ticks])
    axes.set_xlabel("BPCER")
    axes.set_ylabel("APCER")
    axes.set_title("PAD DET (simulated attacks unless stated otherwise)")
    axes.grid(visible=True, alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, format="png")
