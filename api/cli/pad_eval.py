"""`facegate eval pad`: ISO/IEC 30107-3 figures of the PAD stage on stills, or per track on videos.

DIR holds `bona_fide/` and `attack/<species>/` (photos), or the same layout of videos (one presentation
per video), as `facegate pad make-attacks` writes them (videos under DIR/videos). Still photos are scored
one face each and judged as enrollment judges an upload (`--judge enrollment`, recognition's judge_still:
a face filling the photo by the card's face-fill calibration of the photo's colour, grey or colour, when it
has one) or by the gate's threshold
(`--judge gate`); videos run through `gate.run_gate` with PAD in monitor mode, exactly as a door decides,
and each video's verdict is its first track's PAD verdict: the card's track rule over the passive score
and the track cues when the card has one, else the passive mean. Every presentation is scored once; the
card's operating point at `--bpcer-target` and each `--threshold` are applied to the stored scores
(pad_eval_report.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from api.cli.pad import default_pad_dir
from api.cli.pad_eval_report import Judging, pad_report, print_pad_report, write_det_png
from api.cli.runtime import cli_errors, configure_logging
from gate import DoorPolicy, GateSettings, LogOnlyDoor, OpencvFrameSource, PadSettings, run_gate
from recognition import (
    EvaluationDataError,
    Gallery,
    MainThreshold,
    PadCalibration,
    PadScore,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    ScoredStills,
    StillVerdict,
    build_pad_detector,
    build_recognizer,
    image_paths,
    judge_at_threshold,
    judge_still,
    main_attack_threshold,
    score_stills,
    track_basis,
    vector_to_bytes,
)
from storage import AuditEventCreate

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


def _matched_attacks(
    recognizer: Recognizer, attacks: dict[str, ScoredStills], gallery: tuple[Gallery, dict[str, int]]
) -> dict[str, set[Path]]:
    """Per species, the scored attacks whose face matches their target person (IAPMR without PAD)."""
    index, person_of = gallery
    result: dict[str, set[Path]] = {}
    for species, scored in attacks.items():
        result[species] = set()
        for path in scored.scores:
            image = recognizer.decode(path.read_bytes())
            faces = recognizer.detect(image)
            best = index.search(recognizer.embed(image, faces[0]).vector, 1) if faces else []
            if (
                best
                and best[0].score >= recognizer.cos_threshold
                and best[0].person_id == person_of.get(path.stem)
            ):
                result[species].add(path)
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
        is_grey = detail.get("colour") == "grey"  # every PAD frame grey: the gate's grey threshold holds it
        score = scored[0].pad_score or 0.0
        result.scores[path] = PadScore(attack_score=score, cues=cues, is_grayscale=is_grey)
    return result


class PadJudge(StrEnum):
    """How stills are held to the card's calibration."""

    enrollment = "enrollment"
    gate = "gate"


def _calibrated(
    pad: PresentationAttackDetector, *, judge: PadJudge, are_videos: bool, bpcer_target: float
) -> Judging:
    """The card's operating point at `bpcer_target`: a track as the gate decides it, by the track rule's
    calibration of the track's colour when the card has a rule, else by the main calibration of the track's
    colour (a grey calibration without a point at the target holds grey tracks only where its nearest point
    is stricter than the colour threshold), with the basis the gate's events carry (`track_basis`); a still
    by enrollment's own judge_still (the grey calibration for a grey still with background when the card
    has one), with the face-fill calibrations under `enrollment` and without them (the gate's thresholds)
    under `gate`.

    Raises:
        ModelLoadError: the calibration has no point at or below the target.
    """
    rule = pad.track_rule
    if are_videos:
        calibration, grey_calibration = (
            (rule.calibration, rule.grey_calibration)
            if rule is not None
            else (pad.calibration, pad.grey_calibration)
        )
        colour, grey = (
            _track_threshold(calibration, grey_calibration, bpcer_target, is_grey=g, is_rule=rule is not None)
            for g in (False, True)
        )
        return partial(_judge_track, colour=colour, grey=grey)
    face_fill = pad.face_fill_calibrations if judge is PadJudge.enrollment else ()
    return partial(
        judge_still,
        calibration=pad.calibration,
        face_fill_calibrations=face_fill,
        bpcer_target=bpcer_target,
        grey_calibration=pad.grey_calibration,
    )


@dataclass(frozen=True)
class _TrackThreshold:
    """What a track of one colour is held to, and the basis the gate's events would give for it."""

    main: MainThreshold
    basis: str


def _track_threshold(
    calibration: PadCalibration | None,
    grey_calibration: PadCalibration | None,
    bpcer_target: float,
    *,
    is_grey: bool,
    is_rule: bool,
) -> _TrackThreshold:
    main = main_attack_threshold(
        calibration, grey_calibration, bpcer_target=bpcer_target, is_grayscale=is_grey
    )
    basis = track_basis(
        main, grey_calibration, bpcer_target=bpcer_target, is_grayscale=is_grey, is_track_rule=is_rule
    )
    return _TrackThreshold(main, basis)


def _judge_track(scored: PadScore, *, colour: _TrackThreshold, grey: _TrackThreshold) -> StillVerdict:
    """A track held as the gate holds it: a wholly grey track to the grey thresholds, every other track to
    the colour ones."""
    held = grey if scored.is_grayscale else colour
    return judge_at_threshold(
        scored,
        threshold=held.main.attack_threshold,
        basis=held.basis,
        is_grey_calibrated=held.main.is_grey_calibrated,
    )


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
    judge: Annotated[
        PadJudge | None,
        typer.Option(
            help="Stills at the card's calibration: `enrollment` (default for stills) holds a photo whose "
            "face fills it to the card's face-fill calibration of the photo's colour (grey or colour) when "
            "it has one and every other photo to the card's calibration, by enrollment's own code; `gate` "
            "holds every still to the card's "
            "calibration (the gate's threshold; the gate itself never scores a face filling the frame). "
            "Videos are always judged as the gate judges a track."
        ),
    ] = None,
    thresholds: Annotated[
        list[float] | None,
        typer.Option(
            "--threshold",
            metavar="T",
            help="Also judge every still or track at this attack-score threshold (repeatable), each in a "
            "report block of its own after the calibrated one; everything is scored once (a track's score "
            "is its rule's or passive mean, as the gate records it).",
        ),
    ] = None,
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
    """APCER per species and max, BPCER, BPCER@APCER 5%/10%, ACER, detection failures (and IAPMR), at the
    calibrated threshold and at each --threshold, from one scoring pass."""
    configure_logging(verbose=verbose)
    settings = RecognitionSettings()
    with cli_errors():
        recognizer = build_recognizer(settings, cache_dir=default_pad_dir())
        pad = build_pad_detector(settings, cache_dir=default_pad_dir())
        bona_paths, attack_paths, are_videos = _presentations(data)
        if are_videos and judge is PadJudge.enrollment:
            raise EvaluationDataError(
                "videos are judged as the gate judges a track; --judge enrollment is for stills"
            )
        judge = PadJudge.gate if are_videos else judge or PadJudge.enrollment
        points = [_calibrated(pad, judge=judge, are_videos=are_videos, bpcer_target=bpcer_target)]
        points += [partial(judge_at_threshold, threshold=t, basis="given") for t in thresholds or []]
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
        matched = _matched_attacks(recognizer, attacks, enrolled) if enrolled and not are_videos else None
        unit = "track" if are_videos else "photo"
        result = pad_report(bona, attacks, points, unit=unit, judge=judge.value, matched=matched)
    print_pad_report(result)
    if plot_png is not None:
        write_det_png(bona.attack_scores, {s: a.attack_scores for s, a in attacks.items()}, plot_png)
    if as_json:
        typer.echo(json.dumps(result))
