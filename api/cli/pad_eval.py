"""`facegate eval pad`: ISO/IEC 30107-3 figures of the PAD stage on stills, or per track on videos.

DIR holds `bona_fide/` and `attack/<species>/` (photos), or the same layout of videos (one presentation
per video), as `facegate pad make-attacks` writes them (videos under DIR/videos). Still photos are scored
one face each; videos run through `gate.run_gate` with PAD in monitor mode, exactly as a door decides,
and each video's verdict is its first track's PAD verdict: the card's track rule over the passive score
and the track cues when the card has one, else the passive mean. The threshold is the card's (the rule's
for videos) at `--bpcer-target`, or `--threshold`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Annotated, Any

import typer
from rich.console import Console

from api.cli.pad import default_pad_dir
from api.cli.runtime import cli_errors, configure_logging, err_console
from gate import DoorPolicy, GateSettings, LogOnlyDoor, OpencvFrameSource, PadSettings, run_gate
from recognition import (
    EvaluationDataError,
    Gallery,
    PadScore,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    ScoredStills,
    bpcer_at_apcer,
    build_pad_detector,
    build_recognizer,
    error_rates,
    image_paths,
    operating_attack_threshold,
    score_stills,
    vector_to_bytes,
)
from storage import AuditEventCreate

console = Console(soft_wrap=True)
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov"})
EVAL_DOOR = "eval-pad"


def _presentations(root: Path) -> tuple[list[Path], dict[str, list[Path]], bool]:
    """(bona fide, attacks by species, are videos) under root; raises EvaluationDataError when malformed."""
    bona_dir, attack_dir = root / "bona_fide", root / "attack"
    if not bona_dir.is_dir() or not attack_dir.is_dir():
        raise EvaluationDataError(f"{root} needs bona_fide/ and attack/<species>/ folders")
    videos = sorted(p for p in bona_dir.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    if videos:
        attacks = {
            d.name: sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
            for d in sorted(attack_dir.iterdir())
            if d.is_dir()
        }
        return videos, attacks, True
    attacks = {d.name: image_paths(d) for d in sorted(attack_dir.iterdir()) if d.is_dir()}
    return image_paths(bona_dir), attacks, False


def _gallery(recognizer: Recognizer, folder: Path) -> tuple[Gallery, dict[str, int]]:
    """Each photo of `folder` enrolled as its own person (id by file name stem), in memory."""
    scored: list[tuple[str, int, bytes]] = []
    person_of: dict[str, int] = {}
    for person_id, path in enumerate(image_paths(folder), start=1):
        image = recognizer.decode(path.read_bytes())
        faces = recognizer.detect(image)
        if not faces:
            continue
        vector = recognizer.embed(image, faces[0]).vector
        scored.append((path.stem, person_id, vector_to_bytes(vector)))
        person_of[path.stem] = person_id
    return recognizer.new_gallery(scored), person_of


def _iapmr(
    recognizer: Recognizer,
    stills: dict[str, ScoredStills],
    gallery: tuple[Gallery, dict[str, int]],
    threshold: float,
) -> dict[str, dict[str, float]]:
    """Per species: share of attacks matching their target (no PAD), and matching and passing PAD."""
    index, person_of = gallery
    result = {}
    for species, scored in stills.items():
        matched = passed = 0
        for path, pad_score in scored.scores.items():
            image = recognizer.decode(path.read_bytes())
            faces = recognizer.detect(image)
            best = index.search(recognizer.embed(image, faces[0]).vector, 1) if faces else []
            if (
                best
                and best[0].score >= recognizer.cos_threshold
                and best[0].person_id == person_of.get(path.stem)
            ):
                matched += 1
                passed += pad_score.attack_score <= threshold
        total = len(scored.scores) or 1
        result[species] = {"iapmr": matched / total, "iapmr_with_pad": passed / total}
    return result


def video_track_scores(
    paths: list[Path],
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    gallery: Gallery,
    *,
    pad_settings: PadSettings,
) -> ScoredStills:
    """Each video's first track through run_gate: its PAD score and the numbers its event's cues hold
    (the passive mean, each net's output, each cue); a face too close when the face filled every frame PAD
    saw, else a detection failure when PAD never scored it."""
    result = ScoredStills()
    settings = GateSettings(pad=pad_settings)
    for path in paths:
        events: list[AuditEventCreate] = []
        list(
            run_gate(
                OpencvFrameSource(str(path)).frames(),
                door=EVAL_DOOR,
                source_name=path.name,
                recognizer=recognizer,
                gallery=lambda: gallery,
                access=lambda: DoorPolicy(door=EVAL_DOOR, windows=()),
                actuator=LogOnlyDoor(),
                record=events.append,
                settings=settings,
                monotonic=time.monotonic,
                utc_now=lambda: datetime.now(UTC),
                pad=pad,
            )
        )
        scored = [e for e in events if e.pad_score is not None]
        if not scored:
            is_too_close = any(
                json.loads(e.pad_cues or "{}").get("verdict") == "face_too_close" for e in events
            )
            (result.faces_too_close if is_too_close else result.detection_failures).append(path)
            continue
        detail = json.loads(scored[0].pad_cues or "{}")
        cues = {name: float(value) for name, value in detail.items() if isinstance(value, int | float)}
        result.scores[path] = PadScore(attack_score=scored[0].pad_score or 0.0, cues=cues)
    return result


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


def eval_pad_command(
    data: Annotated[
        Path, typer.Option("--data", help="DIR with bona_fide/ and attack/<species>/ (photos or videos).")
    ],
    gallery: Annotated[
        Path | None,
        typer.Option(
            help="Photos enrolled one person each (file stem = person): IAPMR, and needed for videos."
        ),
    ] = None,
    bpcer_target: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Threshold from the PAD calibration.")
    ] = 0.01,
    threshold: Annotated[float | None, typer.Option(help="Use this attack-score threshold instead.")] = None,
    plot_png: Annotated[Path | None, typer.Option("--plot-png", help="Write the DET curve here.")] = None,
    fill_warp_padding: Annotated[
        bool,
        typer.Option(
            "--fill-warp-padding",
            help="Stills only: inpaint each photo's black warp border (deep-funnelled LFW) before scoring, "
            "as `pad calibrate --fill-warp-padding` does.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of the results.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """APCER per species and max, BPCER, BPCER@APCER 5%/10%, ACER, detection failures (and IAPMR)."""
    configure_logging(verbose=verbose)
    settings = RecognitionSettings()
    with cli_errors():
        recognizer = build_recognizer(settings, cache_dir=default_pad_dir())
        pad = build_pad_detector(settings, cache_dir=default_pad_dir())
        bona_paths, attack_paths, are_videos = _presentations(data)
        # Videos are decided as the gate decides them: by the card's track rule when it has one.
        rule = pad.track_rule if are_videos else None
        calibration = pad.calibration if rule is None else rule.calibration
        operating, basis = operating_attack_threshold(calibration, bpcer_target=bpcer_target)
        basis = basis if rule is None else f"track rule, {basis}"
        if threshold is not None:
            operating, basis = threshold, "given"
        enrolled = _gallery(recognizer, gallery) if gallery is not None else None
        if are_videos and enrolled is None:
            raise EvaluationDataError(
                "videos are decided as the gate does: give --gallery (the enrolled people)"
            )
        if are_videos and fill_warp_padding:
            raise EvaluationDataError("--fill-warp-padding is for stills; a video frame has no warp border")

        def score(paths: list[Path]) -> ScoredStills:
            if enrolled is not None and are_videos:
                monitor = PadSettings(policy="monitor", bpcer_target=bpcer_target)
                return video_track_scores(paths, recognizer, pad, enrolled[0], pad_settings=monitor)
            return score_stills(paths, recognizer, pad, is_warp_padding_filled=fill_warp_padding)

        bona = score(bona_paths)
        attacks = {species: score(paths) for species, paths in attack_paths.items()}
    result = _report(bona, attacks, operating, basis, unit="track" if are_videos else "photo")
    if enrolled is not None and not are_videos:
        result["iapmr"] = _iapmr(recognizer, attacks, enrolled, operating)
    _print(result)
    if plot_png is not None:
        write_det_png(bona.attack_scores, {s: a.attack_scores for s, a in attacks.items()}, plot_png)
    if as_json:
        typer.echo(json.dumps(result))


def _report(
    bona: ScoredStills, attacks: dict[str, ScoredStills], threshold: float, basis: str, *, unit: str
) -> dict[str, Any]:
    attack_scores = {species: scored.attack_scores for species, scored in attacks.items()}
    rates = error_rates(bona.attack_scores, attack_scores, threshold=threshold)
    return {
        "unit": unit,
        "threshold": threshold,
        "threshold_basis": basis,
        "bona_fide": len(bona.scores),
        "attacks": {species: len(scored.scores) for species, scored in attacks.items()},
        "bpcer": rates.bpcer,
        "apcer": rates.apcer_by_species,
        "apcer_max": rates.apcer_max,
        "acer": rates.acer,
        "bpcer_at_apcer_5": bpcer_at_apcer(bona.attack_scores, attack_scores, apcer=0.05),
        "bpcer_at_apcer_10": bpcer_at_apcer(bona.attack_scores, attack_scores, apcer=0.10),
        "detection_failures": {
            "bona_fide": len(bona.detection_failures),
            **{species: len(scored.detection_failures) for species, scored in attacks.items()},
        },
        "faces_too_close": {
            "bona_fide": len(bona.faces_too_close),
            **{species: len(scored.faces_too_close) for species, scored in attacks.items()},
        },
    }


def _print(result: dict[str, Any]) -> None:
    console.print(
        f"per {result['unit']}, attack score > {result['threshold']:.4f} ({result['threshold_basis']}) "
        "is an attack",
        markup=False,
        highlight=False,
    )
    console.print(f"BPCER {result['bpcer']:.2%} of {result['bona_fide']} bona fide")
    for species, apcer in result["apcer"].items():
        console.print(f"APCER {species}: {apcer:.2%} of {result['attacks'][species]}", markup=False)
    console.print(
        f"APCER max {result['apcer_max']:.2%}, ACER {result['acer']:.2%}, BPCER@APCER5% "
        f"{result['bpcer_at_apcer_5']:.2%}, BPCER@APCER10% {result['bpcer_at_apcer_10']:.2%}",
        markup=False,
    )
    console.print(f"detection failures: {result['detection_failures']}", markup=False, highlight=False)
    if any(result["faces_too_close"].values()):
        console.print(
            f"not judged, the face filled every frame (the gate denies pad_face_too_close): "
            f"{result['faces_too_close']}",
            markup=False,
            highlight=False,
        )
    for species, figures in result.get("iapmr", {}).items():
        console.print(
            f"IAPMR {species}: {figures['iapmr']:.2%} without PAD, {figures['iapmr_with_pad']:.2%} with PAD",
            markup=False,
        )
    if result["unit"] == "photo":
        err_console.print("(simulated attacks say nothing about real ones unless DIR holds real attacks)")
