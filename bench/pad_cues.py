"""PAD track cues, measured: each cue alone and the fitted track rule, per track, on simulated videos.

(Over 400 lines: one measurement script whose every figure in BENCHMARKS comes from one run of it.)

Data (written once to OUT, seeded): ORL's 40 people split in half by a seeded permutation (fit / held-out).
For each person: `--bona` bona fide stand-in clips (`pose_sweep_video`: the person's 10 ORL photos sorted
by a yaw proxy from YuNet's landmarks, shown as a head turning) and `--attacks` clips per attack species
(`attack_video`: one of the person's photos on a rendered phone or print, held up and drifting), 12 frames
at 15 fps, 640×480 MJPG. All of it is simulated: see BENCHMARKS.md (Track cues) for what the stand-ins are
not, and for what the fitted rule does to real bona fide photos (do not put it in a door's card as is).
OUT/gallery holds each person's first photo (enrolled one person each).

Every clip runs through `gate.run_gate` with PAD in monitor mode, the card's track rule ignored, as
`facegate eval pad` does; the row of a track is what its audit event records (passive mean, every cue, and
its colour as `is_grey`: 1 when every PAD frame was grey).
Per cue and for the passive score: AUC per species and APCER at the thresholds that give BPCER 1% / 5% on
the fit split's bona fide tracks, on the held-out split. The track rule (logistic regression) is fitted on
the fit split with `--features` and reported on the held-out split; `--write-card` stores it in the PAD
card, with its scores on the held-out split's attack tracks as its attack evidence (per species, one a
track, bound to the rule's coefficients and to the colour the gate recorded for those tracks: colour, the
ORL faces being grey but not the scene, hand and screen or paper tint), from which `facegate pad
calibrate-door` reads per track what a door threshold of the rule gives up, for a door's tracks of that
colour (a refit writes a new rule, with only this colour's evidence).
`--grey` renders every frame of every clip grey, bona fide and attacks alike, as a night/IR door camera
delivers them (the same seed's clips turned grey, so a grey OUT pairs clip for clip with a colour one); it
writes into the card only with `--card-rule`, which scores with the card's rule instead of fitting one
(`rule_at_its_points`: BPCER and APCER per species at each of the rule's thresholds, per split). With `--grey
--card-rule` the rule also gets a grey calibration: thresholds on its own score (coefficients untouched, so
`rule_sha256` too) set on the grey fit split's bona fide tracks, which the gate holds wholly grey tracks to
(`rule_at_grey_points`: the same rates at those thresholds). With `--write-card` it records both, the grey
calibration and its evidence for the tracks' colour beside the other colour's, in the card's rule, never a
refit one.
`--fit-stills CLASS=DIR` (repeatable) adds every second photo of a
class (`bona_fide`, a species) to the fit split as one-frame tracks and reports the rest at the rule's
threshold; `--calibrate-stills DIR` sets that threshold on other bona fide photos instead of the fit rows.
`--stills NAME=DIR` (repeatable) scores photo sets with that rule as one-frame tracks (passive and
`frame_edges` of the face nearest the centre), thresholds set on the first set. The rows are kept in
OUT/rows.json: a second run with other `--features` only refits. Cue cost: each cue
timed on the first 3 face frames of each held-out clip (ms per track).

    FACEGATE_HOME=... FACEGATE_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/pad_cues.py \
        --out SIM_ORL --seed 13 [--features passive,frame_edges] [--write-card] [--stills lfw=DIR ...]
    ... bench/pad_cues.py --out SIM_ORL_GREY --seed 13 --grey --card-rule     # the card's rule on grey tracks

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import cv2
import numpy as np

from api.cli.pad_eval import video_track_scores
from gate import OpencvFrameSource, PadSettings
from recognition import (
    ATTACK_SPECIES,
    CUE_NAMES,
    FRAME_CUES,
    PASSIVE_FEATURE,
    TRACK_CUES,
    BgrImage,
    DetectedFace,
    Gallery,
    PadCalibration,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    TrackColour,
    attack_video,
    build_pad_detector,
    build_recognizer,
    calibrate_pad,
    find_pad_card,
    fit_track_rule,
    grey_frame,
    image_paths,
    main_calibration_for,
    names_sha256,
    pad_search_dirs,
    pose_sweep_video,
    read_pad_card,
    threshold_at_bpcer,
    vector_to_bytes,
    with_track_attack_evidence,
    with_track_grey_calibration,
    write_pad_card,
)
from storage import StorageSettings

FPS = 15.0
Row = dict[str, float | None]
ALL_FEATURES = (PASSIVE_FEATURE, *CUE_NAMES)
IS_GREY = "is_grey"
"""A row's track colour as its event records it: 1.0 every PAD frame grey, 0.0 not (not a cue)."""


def _write_video(path: Path, frames: list[BgrImage]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def orl_dir(data_dir: Path) -> Path:
    """ORL (AT&T) faces in the shared data directory: a folder per person (s1..s40), photos 1..10.pgm."""
    return data_dir / "faces" / "orl-att-faces" / "att_faces"


def orl_people(orl: Path) -> list[str]:
    """ORL's person folders, by name."""
    return sorted(p.name for p in orl.iterdir() if p.is_dir())


def _yaw_proxy(recognizer: Recognizer, photo: BgrImage) -> float:
    """Nose tip's offset from the eyes' midpoint, in inter-ocular distances (0 when no face is found)."""
    faces = recognizer.detect(photo)
    if not faces:
        return 0.0
    marks = faces[0].landmarks
    return float((marks[2, 0] - (marks[0, 0] + marks[1, 0]) / 2) / max(1.0, marks[1, 0] - marks[0, 0]))


def make_data(
    out: Path,
    recognizer: Recognizer,
    *,
    orl: Path,
    seed: int,
    bona: int,
    attacks: int,
    frames: int,
    people_max: int,
    only_people: Sequence[str] | None = None,
    is_grey: bool = False,
) -> None:
    """Write OUT/{fit,held_out}/{bona_fide,attack/<species>}/*.avi and OUT/gallery/<person>.png
    (`only_people`: of those of the first `people_max` ORL people only; bench/pad_rule_check.py). With
    `is_grey` every frame of every clip is turned grey as rendered (`grey_frame`: a night/IR door camera),
    the same clips as without it for the same seed."""
    rng = np.random.default_rng(seed)
    people = orl_people(orl)[:people_max]
    people = people if only_people is None else [person for person in people if person in only_people]
    order = rng.permutation(len(people))
    for rank, index in enumerate(order):
        person = people[index]
        split = "fit" if rank < len(people) // 2 else "held_out"
        photos = [
            np.asarray(cv2.imread(str(orl / person / f"{n}.pgm"), cv2.IMREAD_COLOR), np.uint8)
            for n in range(1, 11)
        ]
        (out / "gallery").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / "gallery" / f"{person}.png"), photos[0])
        by_yaw = sorted(photos, key=lambda photo: _yaw_proxy(recognizer, photo))
        for clip in range(bona):
            video = pose_sweep_video(by_yaw, rng, frames=frames)
            _write_video(out / split / "bona_fide" / f"{person}_{clip}.avi", _captured(video, is_grey))
        for species in ATTACK_SPECIES:
            for clip in range(attacks):
                photo = photos[int(rng.integers(0, len(photos)))]
                video = attack_video(photo, species, rng, frames=frames)
                path = out / split / "attack" / species / f"{person}_{clip}.avi"
                _write_video(path, _captured(video, is_grey))


def _captured(frames: list[BgrImage], is_grey: bool) -> list[BgrImage]:
    """The frames as the door camera delivers them: wholly grey from a night/IR camera, else as rendered."""
    return [grey_frame(frame) for frame in frames] if is_grey else frames


def _gallery(recognizer: Recognizer, folder: Path) -> Gallery:
    rows = []
    for person_id, path in enumerate(sorted(folder.glob("*.png")), start=1):
        image = recognizer.decode(path.read_bytes())
        faces = recognizer.detect(image)
        if faces:
            rows.append((path.stem, person_id, vector_to_bytes(recognizer.embed(image, faces[0]).vector)))
    return recognizer.new_gallery(rows)


def track_rows(
    paths: list[Path], recognizer: Recognizer, pad: PresentationAttackDetector, gallery: Gallery
) -> tuple[list[Row], int]:
    """What the gate's event records for each clip's first decided track (PAD monitor, the card's track
    rule ignored; `is_grey`: 1.0 when the event says every PAD frame was grey), and how many clips PAD never
    scored."""
    settings = PadSettings(policy="monitor", allow_track_rule=False)
    scored = video_track_scores(paths, recognizer, pad, gallery, pad_settings=settings)
    rows: list[Row] = []
    for path in paths:
        if path in scored.scores:
            score = scored.scores[path]
            row: Row = {name: score.cues.get(name) for name in (PASSIVE_FEATURE, *CUE_NAMES)}
            row[IS_GREY] = 1.0 if score.is_grayscale else 0.0
            rows.append({**row, **clip_motion(path, recognizer)})
    return rows, len(scored.detection_failures)


def _faced(path: Path, recognizer: Recognizer) -> list[tuple[BgrImage, DetectedFace]]:
    """Each frame of the clip with a face, and its largest face."""
    frames = [f for f in OpencvFrameSource(str(path)).frames() if isinstance(f, np.ndarray)]
    return [
        (frame, max(faces, key=lambda face: face.width_px * face.height_px))
        for frame in frames
        if (faces := recognizer.detect(frame))
    ]


def clip_motion(path: Path, recognizer: Recognizer) -> dict[str, float | None]:
    """The track cues over every face frame of the whole clip (what waiting for all of it would see)."""
    faced = _faced(path, recognizer)
    return {f"{name}_whole_clip": cue(faced) for name, cue in TRACK_CUES.items()}


def cue_ms(path: Path, recognizer: Recognizer) -> dict[str, float]:
    """Milliseconds each cue takes for one track: frame cues on its first 3 face frames, track cues once."""
    faced = _faced(path, recognizer)
    timings = {}
    for name, cue in FRAME_CUES.items():
        start = time.perf_counter()
        for frame, face in faced[:3]:
            cue(frame, face)
        timings[name] = (time.perf_counter() - start) * 1000
    for name, track_cue in TRACK_CUES.items():
        start = time.perf_counter()
        track_cue(faced[:3])
        timings[name] = (time.perf_counter() - start) * 1000
    return timings


def auc(bona: Sequence[float], attack: Sequence[float]) -> float:
    """P(attack value > bona fide value), ties counted half (Mann-Whitney)."""
    a, b = np.asarray(attack, np.float64)[:, None], np.asarray(bona, np.float64)[None, :]
    return (
        float(((a > b).sum() + 0.5 * (a == b).sum()) / (a.size * b.size))
        if a.size and b.size
        else float("nan")
    )


def _value(row: Row, name: str, centre: float) -> float:
    value = row.get(name)
    return centre if value is None else value


def operating(
    fit: Mapping[str, list[Row]], held: Mapping[str, list[Row]], score: Callable[[Row], float]
) -> dict[str, object]:
    """AUC per species on held-out; thresholds at BPCER 1%/5% on fit bona fide, rates on held-out."""
    fit_bona = [score(r) for r in fit["bona_fide"]]
    held_bona = [score(r) for r in held["bona_fide"]]
    report: dict[str, object] = {}
    for species in ATTACK_SPECIES:
        report[f"auc_{species}"] = round(auc(held_bona, [score(r) for r in held[species]]), 4)
    for target in (0.01, 0.05):
        threshold = threshold_at_bpcer(fit_bona, target)
        report[f"bpcer_at_fit_{target:g}"] = round(float(np.mean([s > threshold for s in held_bona])), 4)
        for species in ATTACK_SPECIES:
            held_attack = [score(r) for r in held[species]]
            report[f"apcer_{species}_at_fit_{target:g}"] = round(
                float(np.mean([s <= threshold for s in held_attack])), 4
            )
    return report


def still_rows(folder: Path, recognizer: Recognizer, pad: PresentationAttackDetector) -> list[Row]:
    """Each photo with a face as a one-frame track: passive score and `frame_edges` of the centred face."""
    rows: list[Row] = []
    for path in image_paths(folder):
        image = recognizer.decode(path.read_bytes())
        faces = recognizer.detect(image)
        if not faces:
            continue
        face = min(faces, key=lambda f: abs((f.bbox[0] + f.bbox[2]) / 2 - image.shape[1] / 2))
        passive, edges = pad.score(image, face).attack_score, FRAME_CUES["frame_edges"](image, face)
        rows.append({PASSIVE_FEATURE: passive, "frame_edges": edges})
    return rows


def still_scores(
    folder: Path, recognizer: Recognizer, pad: PresentationAttackDetector, rule: PadTrackRule
) -> np.ndarray:
    """Per photo with a face (the one nearest the centre): passive score, `frame_edges`, the rule's score."""
    values = [
        (row[PASSIVE_FEATURE] or 0.0, row["frame_edges"] or 0.0, rule.score(row))
        for row in still_rows(folder, recognizer, pad)
    ]
    return np.asarray(values, dtype=np.float64).reshape(-1, 3)


def stills_report(
    stills: list[tuple[str, Path]],
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    rule: PadTrackRule,
) -> dict[str, object]:
    """Share of each photo set called an attack: by the rule at its own 1% threshold, and by the passive
    score, `frame_edges` and the rule at thresholds giving BPCER 1% / 5% on the first set."""
    scores = {name: still_scores(folder, recognizer, pad, rule) for name, folder in stills}
    reference = scores[stills[0][0]]
    report: dict[str, object] = {"photos": {name: len(v) for name, v in scores.items()}}
    own = rule.calibration.threshold_at(0.01)
    report["rule_at_own_0.01"] = {name: round(float((v[:, 2] > own).mean()), 4) for name, v in scores.items()}
    for column, label in enumerate((PASSIVE_FEATURE, "frame_edges", "rule")):
        for target in (0.01, 0.05):
            threshold = threshold_at_bpcer(list(reference[:, column]), target)
            shares = {name: round(float((v[:, column] > threshold).mean()), 4) for name, v in scores.items()}
            report[f"{label}_at_{stills[0][0]}_{target:g}"] = {"threshold": round(threshold, 4), **shares}
    return report


def measure(out: Path, recognizer: Recognizer, pad: PresentationAttackDetector) -> dict[str, object]:
    """Every clip's row by split and class, and the clips PAD never scored (kept in OUT/rows.json)."""
    gallery = _gallery(recognizer, out / "gallery")
    splits: dict[str, dict[str, list[Row]]] = {}
    failures: dict[str, dict[str, int]] = {}
    for split in ("fit", "held_out"):
        splits[split], failures[split] = {}, {}
        for cls in ("bona_fide", *ATTACK_SPECIES):
            folder = out / split / ("bona_fide" if cls == "bona_fide" else f"attack/{cls}")
            splits[split][cls], failures[split][cls] = track_rows(
                sorted(folder.glob("*.avi")), recognizer, pad, gallery
            )
            sys.stderr.write(
                f"{split} {cls}: {len(splits[split][cls])} tracks, {failures[split][cls]} never scored\n"
            )
    return {"rows": splits, "never_scored": failures}


def held_out_attack_evidence(
    rule: PadTrackRule, out: Path, held: Mapping[str, list[Row]], *, seed: int
) -> PadTrackRule:
    """`rule` with its scores on the held-out split's attack tracks (people it was not fitted on) as its
    attack evidence, per species, of the tracks' colour (`tracks_colour`); a clip without a row (PAD never
    scored it: no face matched, or the face filled every frame) counts as not scored. The clips are named
    species/file, as `pad calibrate --attacks` names stills."""
    root = out / "held_out" / "attack"
    clips = {s: sorted((root / s).glob("*.avi")) for s in ATTACK_SPECIES}
    tracks = sum(len(held[s]) for s in ATTACK_SPECIES)
    colour = tracks_colour([row for s in ATTACK_SPECIES for row in held[s]])
    return with_track_attack_evidence(
        rule,
        {s: held[s] for s in ATTACK_SPECIES},
        {s: len(clips[s]) - len(held[s]) for s in ATTACK_SPECIES},
        dataset=f"{tracks} simulated {colour} attack tracks of the held-out half of ORL's people (not fitted "
        f"on), bench/pad_cues.py --seed {seed}{' --grey' if colour == 'grey' else ''}",
        paths_sha256=names_sha256(f"{s}/{path.name}" for s, paths in clips.items() for path in paths),
        colour=colour,
    )


def tracks_colour(rows: Sequence[Row]) -> TrackColour:
    """The one colour the gate recorded for every track of `rows` (`is_grey`).

    Raises:
        SystemExit: no row, rows of both colours (evidence holds one), or rows measured before the colour
            was kept (remove OUT/rows.json to measure again).
    """
    flags = {row.get(IS_GREY) for row in rows}
    if None in flags:
        raise SystemExit(
            "rows.json was measured before rows kept the track's colour: remove it to measure again"
        )
    if len(flags) != 1:
        raise SystemExit(
            f"attack tracks of {'both colours' if flags else 'no colour'}: evidence holds one colour"
        )
    return "grey" if flags == {1.0} else "colour"


def evidence_report(rule: PadTrackRule, colour: TrackColour) -> dict[str, object] | None:
    """Per species the tracks of the rule's attack evidence of `colour` and the APCER at each of the
    thresholds that hold tracks of that colour (the grey calibration's for grey, when the rule has one)."""
    evidence = rule.attack_evidence_for(colour)
    if evidence is None:
        return None
    calibration, _ = rule.calibration_for(is_grey=colour == "grey")
    return {
        "dataset": evidence.dataset,
        "json_chars": len(evidence.model_dump_json()),
        **{
            entry.species: {
                "tracks": entry.scored_count,
                "never_scored": entry.detection_failures,
                **{
                    f"apcer_at_rule_{p.bpcer:g}": round(entry.apcer_at(p.attack_threshold), 4)
                    for p in calibration.points
                },
            }
            for entry in evidence.species
        },
    }


def _card_rule(card_path: Path) -> PadTrackRule:
    """The track rule the PAD card holds (--card-rule), or exit saying there is none."""
    rule = read_pad_card(card_path).track_rule
    if rule is None:
        raise SystemExit(f"{card_path} holds no track rule to score with (--card-rule)")
    return rule


def _fitted_rule(
    args: argparse.Namespace,
    fit: Mapping[str, list[Row]],
    *,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
) -> PadTrackRule:
    """The rule fitted on the fit split (and its `--fit-stills`), thresholds from its bona fide rows or from
    `--calibrate-stills`."""
    fit_rows = [row for rows in fit.values() for row in rows]
    labels = [cls != "bona_fide" for cls, rows in fit.items() for _ in rows]
    fitted_on = (
        f"bench/pad_cues.py --seed {args.seed}: ORL pose-sweep stand-ins vs simulated screen/print clips, "
        f"fit split ({len(fit_rows)} tracks; every 2nd photo of {' '.join(args.fit_stills) or 'no stills'})"
    )
    features = (args.features or ",".join(ALL_FEATURES)).split(",")
    rule = fit_track_rule(fit_rows, labels, features=features, fitted_on=fitted_on)
    if args.calibrate_stills:  # thresholds from real photos, as the passive score's, not from the fit rows
        scores = [rule.score(row) for row in still_rows(args.calibrate_stills, recognizer, pad)]
        dataset = f"{len(scores)} bona fide photos in {args.calibrate_stills.name} (one-frame tracks)"
        rule = rule.model_copy(update={"calibration": calibrate_pad(scores, dataset=dataset)})
    return rule


def rule_at_points(
    rule: PadTrackRule, rows: Mapping[str, list[Row]], *, calibration: PadCalibration | None = None
) -> dict[str, float | int]:
    """At each of the rule's thresholds (`calibration`'s: default its colour ones): the share of bona fide
    tracks it refuses (BPCER) and of each species' tracks it lets through (APCER), with the tracks counted."""
    report: dict[str, float | int] = {f"{cls}_tracks": len(cls_rows) for cls, cls_rows in rows.items()}
    for point in (calibration or rule.calibration).points:
        for cls, cls_rows in rows.items():
            refused = sum(rule.score(row) > point.attack_threshold for row in cls_rows)
            wrong = refused if cls == "bona_fide" else len(cls_rows) - refused
            name = "bpcer" if cls == "bona_fide" else f"apcer_{cls}"
            report[f"{name}_at_rule_{point.bpcer:g}"] = (
                round(wrong / len(cls_rows), 4) if cls_rows else math.nan
            )
    return report


def grey_calibrated(rule: PadTrackRule, bona_fide_rows: list[Row], *, seed: int) -> PadTrackRule:
    """`rule` with thresholds for grey tracks set on the grey fit split's bona fide tracks; as it was (and
    saying so) when they are too few to set one at every target its colour thresholds have (a smoke run): a
    door whose target the grey thresholds lack would hold its grey tracks to the colour ones."""
    targets = sorted(p.bpcer for p in rule.calibration.points)
    if len(bona_fide_rows) * targets[0] < 1:
        sys.stderr.write(
            f"no grey calibration of the card's rule: {len(bona_fide_rows)} grey bona fide fit tracks set no "
            f"threshold at BPCER {targets[0]:g}, which its colour thresholds have (more --bona or --people)\n"
        )
        return rule
    return with_track_grey_calibration(
        rule,
        bona_fide_rows,
        dataset=f"the fit half of ORL's people (simulated pose-sweep stand-ins), "
        f"bench/pad_cues.py --seed {seed} --grey",
    )


def write_card_rule(card_path: Path, rule: PadTrackRule, *, is_card_rule: bool) -> None:
    """Store `rule` as the card's track rule. With `is_card_rule` it must be the rule the card holds (same
    coefficients): a run scoring the card's rule adds thresholds and evidence to it and never writes another.

    Raises:
        SystemExit: the card's rule is not `rule`'s (refit or removed since this run read it).
    """
    card = read_pad_card(card_path)
    held = None if card.track_rule is None else card.track_rule.rule_sha256
    if is_card_rule and held != rule.rule_sha256:
        raise SystemExit(
            f"{card_path}: its track rule is {str(held)[:12]} now, this run scored {rule.rule_sha256[:12]}: "
            "nothing written (run it again)"
        )
    write_pad_card(card.model_copy(update={"track_rule": rule}), card_path)
    sys.stderr.write(f"track rule written to {card_path}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--bona", type=int, default=5, help="bona fide clips per person")
    parser.add_argument("--attacks", type=int, default=3, help="clips per person and attack species")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--people", type=int, default=40, help="use the first N ORL people (a smoke run)")
    parser.add_argument("--features", help=f"the rule's features (default {','.join(ALL_FEATURES)})")
    parser.add_argument(
        "--write-card", action="store_true", help="store the rule and its attack evidence in the PAD card"
    )
    parser.add_argument(
        "--grey",
        action="store_true",
        help="every frame grey, bona fide and attacks alike (a night/IR door camera): the clips of the same "
        "seed without it, turned grey",
    )
    parser.add_argument(
        "--card-rule",
        action="store_true",
        help="score with the PAD card's track rule instead of fitting one; with --write-card its attack "
        "evidence for these tracks' colour is recorded, the other colour's kept",
    )
    parser.add_argument(
        "--fit-stills",
        action="append",
        default=[],
        metavar="CLASS=DIR",
        help="photos of a class (bona_fide or a species): every 2nd joins the fit split, the rest held out "
        "(reported per CLASS=DIR)",
    )
    parser.add_argument(
        "--calibrate-stills",
        type=Path,
        help="set the rule's thresholds on these bona fide photos (one-frame tracks) instead of its fit rows",
    )
    parser.add_argument(
        "--stills",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="photo set scored by the fitted rule (passive,frame_edges); the first one sets thresholds",
    )
    args = parser.parse_args()
    if args.card_rule and (args.features or args.fit_stills or args.calibrate_stills):
        parser.error("--card-rule fits nothing: no --features, --fit-stills or --calibrate-stills")
    if args.grey and args.write_card and not args.card_rule:
        parser.error(
            "a rule fitted on grey tracks would decide colour tracks too: --grey --write-card needs "
            "--card-rule (it records the card rule's attack evidence of grey tracks)"
        )
    settings = RecognitionSettings()
    cache = StorageSettings().home / "models"
    recognizer = build_recognizer(settings, cache_dir=cache)
    pad = build_pad_detector(settings, cache_dir=cache)
    if not (args.out / "gallery").is_dir():
        make_data(
            args.out,
            recognizer,
            orl=orl_dir(settings.data_dir),
            seed=args.seed,
            bona=args.bona,
            attacks=args.attacks,
            frames=args.frames,
            people_max=args.people,
            is_grey=args.grey,
        )
    rows_file = args.out / "rows.json"
    if not rows_file.is_file():
        rows_file.write_text(json.dumps(measure(args.out, recognizer, pad)))
    measured_rows = json.loads(rows_file.read_text())
    splits: dict[str, dict[str, list[Row]]] = measured_rows["rows"]
    failures: dict[str, dict[str, int]] = measured_rows["never_scored"]
    track_splits = {split: dict(rows) for split, rows in splits.items()}  # before --fit-stills joins fit
    fit, held = splits["fit"], splits["held_out"]
    colour = tracks_colour([row for cls_rows in (*fit.values(), *held.values()) for row in cls_rows])
    if colour != ("grey" if args.grey else "colour"):
        raise SystemExit(f"{args.out} holds clips the gate records as {colour}: use another --out")
    held_stills: dict[str, list[Row]] = {}
    for spec in args.fit_stills:
        cls, folder = spec.split("=", 1)
        photos_rows = still_rows(Path(folder), recognizer, pad)
        fit[cls] = [*fit[cls], *photos_rows[::2]]
        held_stills[spec] = photos_rows[1::2]
    fit_rows = [row for rows in fit.values() for row in rows]
    measured = (PASSIVE_FEATURE, *CUE_NAMES, *(f"{name}_whole_clip" for name in TRACK_CUES))
    centres = {
        name: float(np.mean([r[name] for r in fit_rows if r.get(name) is not None] or [0.0]))
        for name in measured
    }
    per_cue = {
        name: operating(fit, held, functools.partial(_value, name=name, centre=centres[name]))
        for name in measured
    }
    card_path = find_pad_card(pad_search_dirs(settings, cache_dir=cache))
    rule = (
        _card_rule(card_path) if args.card_rule else _fitted_rule(args, fit, recognizer=recognizer, pad=pad)
    )
    if args.card_rule and args.grey:  # thresholds of the same score for grey tracks; no coefficient moves
        rule = grey_calibrated(rule, fit["bona_fide"], seed=args.seed)
    rule = held_out_attack_evidence(rule, args.out, held, seed=args.seed)
    combined = operating(fit, held, rule.score)
    main_calibration, _ = main_calibration_for(pad.calibration, pad.grey_calibration, is_grayscale=args.grey)
    passive_threshold = main_calibration.threshold_at(0.01) if main_calibration else 0.5
    held_bona = held["bona_fide"]
    passive_at_card = {
        "threshold": passive_threshold,
        "bpcer": round(float(np.mean([(r[PASSIVE_FEATURE] or 0) > passive_threshold for r in held_bona])), 4),
        **{
            f"apcer_{s}": round(
                float(np.mean([(r[PASSIVE_FEATURE] or 0) <= passive_threshold for r in held[s]])), 4
            )
            for s in ATTACK_SPECIES
        },
    }
    timings = [
        cue_ms(path, recognizer) for path in sorted((args.out / "held_out" / "bona_fide").glob("*.avi"))[:20]
    ]
    cost = {name: round(float(np.median([t[name] for t in timings])), 3) for name in CUE_NAMES}
    stills = [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.stills]
    photos = stills_report(stills, recognizer, pad, rule) if stills else None
    own_threshold = rule.calibration.threshold_at(0.01)
    held_still_shares = {
        cls: round(float(np.mean([rule.score(row) > own_threshold for row in rows])), 4)
        for cls, rows in [*held_stills.items(), *held.items()]
    }
    if args.write_card:
        write_card_rule(card_path, rule, is_card_rule=args.card_rule)
    report = {
        "tracks": {split: {cls: len(rows) for cls, rows in s.items()} for split, s in splits.items()},
        "never_scored": failures,
        "per_cue_held_out": per_cue,
        "colour": colour,
        "rule": {
            "from": "card" if args.card_rule else "fit",
            "features": rule.features,
            "weights": rule.weights,
            "intercept": rule.intercept,
        },
        "rule_thresholds": {str(p.bpcer): p.attack_threshold for p in rule.calibration.points},
        "rule_attack_evidence_held_out": evidence_report(rule, colour),
        "rule_at_its_points": {split: rule_at_points(rule, rows) for split, rows in track_splits.items()},
        "rule_grey_thresholds": (
            None
            if rule.grey_calibration is None
            else {str(p.bpcer): p.attack_threshold for p in rule.grey_calibration.points}
        ),
        "rule_at_grey_points": (
            None
            if rule.grey_calibration is None
            else {
                split: rule_at_points(rule, rows, calibration=rule.grey_calibration)
                for split, rows in track_splits.items()
            }
        ),
        "combined_held_out": combined,
        "passive_at_card_threshold_held_out": passive_at_card,
        "cue_ms_per_track_median": cost,
        "stills": photos,
        "held_out_called_attack_at_rule_0.01": held_still_shares,
        "load_average": os.getloadavg(),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
