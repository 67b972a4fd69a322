"""Prospective check of the PAD card's track rule as it stands: fresh simulated tracks and bona fide photos.

Nothing is fitted or calibrated here: the rule, its threshold at `--bpcer-target` and the passive
calibration come from the PAD card, read after every row is measured, and every presentation is one the
rule has never seen.

- `--orl-out OUT`: ORL tracks written as bench/pad_cues.py writes them (pose-sweep stand-ins and attack
  clips, 12 frames at 15 fps, OUT/gallery each person's first photo), with `--seed`, `--bona` and
  `--attacks`, for only the people `--held-out-people-of SEED` names: the half bench/pad_cues.py --seed SEED
  held out, so never fitted on. Both halves OUT's own permutation writes are evaluated together.
- `--attack-videos NAME=ROOT` (repeatable): a `facegate pad make-attacks --videos` output; its attack clips
  (ROOT/videos/attack/<species>) run with ROOT/bona_fide enrolled, one person each. Its bona fide clips (a
  pasted photo, an attack by construction) are not used.
- `--stills NAME=DIR` (repeatable): bona fide photos, each a one-frame track (the passive score and
  `frame_edges` of the face nearest the centre, as bench/pad_cues.py --stills).

Each clip runs through `gate.run_gate` with PAD in monitor mode and the card's rule ignored; the rule's score
is computed from what the track's event records, as bench/pad_cues.py fits it. A track PAD never scored
(never matched the enrolled person, or the face filled every frame) is counted apart, not in a rate.
Per class: presentations, errors, rate and its one-sided 95% exact upper bound, for the rule and for the
passive mean at the card's calibrated threshold; every error and the three nearest misses with their
values. Rows are kept (OUT/rule_check_rows.json, ROOT/videos/rule_check_rows.json): a second run only
reports again. Seconds of CPU per step go to stderr.

    FACEGATE_HOME=... FACEGATE_DATA_DIR=../shared/data PYTHONPATH=. .venv/bin/python bench/pad_rule_check.py \
        --orl-out FRESH_ORL --seed 31 --bona 3 --attacks 8 --held-out-people-of 13 \
        --attack-videos lfw=SIMP --stills lfw=SIMP/bona_fide

The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from api.cli.pad_eval import video_track_scores
from bench.pad_cues import _gallery, make_data, orl_dir, orl_people
from gate import PadSettings
from recognition import (
    ATTACK_SPECIES,
    CUE_NAMES,
    FRAME_CUES,
    PASSIVE_FEATURE,
    Gallery,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    build_pad_detector,
    build_recognizer,
    error_rate_upper_bound,
    find_pad_card,
    image_paths,
    pad_search_dirs,
    read_pad_card,
    seeded_halves,
    vector_to_bytes,
)
from storage import StorageSettings

Row = dict[str, float | None]
Named = dict[str, Row]
"""Presentation name → its row (passive mean and cues)."""


def _tracks(
    paths: list[Path], recognizer: Recognizer, pad: PresentationAttackDetector, gallery: Gallery
) -> tuple[Named, int]:
    """Each clip's first decided track as its event records it, and how many clips PAD never scored."""
    settings = PadSettings(policy="monitor", allow_track_rule=False)
    scored = video_track_scores(paths, recognizer, pad, gallery, pad_settings=settings)
    rows = {
        path.name: {name: scored.scores[path].cues.get(name) for name in (PASSIVE_FEATURE, *CUE_NAMES)}
        for path in paths
        if path in scored.scores
    }
    return rows, len(paths) - len(rows)


def _stills(folder: Path, recognizer: Recognizer, pad: PresentationAttackDetector) -> tuple[Named, int]:
    """Each photo as a one-frame track (face nearest the centre), and how many had no face."""
    rows: Named = {}
    paths = image_paths(folder)
    for path in paths:
        image = recognizer.decode(path.read_bytes())
        faces = recognizer.detect(image)
        if faces:
            face = min(faces, key=lambda f: abs((f.bbox[0] + f.bbox[2]) / 2 - image.shape[1] / 2))
            edges = FRAME_CUES["frame_edges"](image, face)
            rows[path.name] = {PASSIVE_FEATURE: pad.score(image, face).attack_score, "frame_edges": edges}
    return rows, len(paths) - len(rows)


def _photo_gallery(recognizer: Recognizer, folder: Path) -> Gallery:
    """Every photo under folder enrolled as its own person (the face nearest the centre)."""
    rows = []
    for person_id, path in enumerate(image_paths(folder), start=1):
        image = recognizer.decode(path.read_bytes())
        if faces := recognizer.detect(image):
            face = min(faces, key=lambda f: abs((f.bbox[0] + f.bbox[2]) / 2 - image.shape[1] / 2))
            rows.append((path.stem, person_id, vector_to_bytes(recognizer.embed(image, face).vector)))
    return recognizer.new_gallery(rows)


def _cached(path: Path, measure: Callable[[], dict[str, object]]) -> dict[str, Any]:
    """measure() kept in path as JSON: measured once, read back after."""
    if not path.is_file():
        start = time.process_time()
        path.write_text(json.dumps(measure()))
        sys.stderr.write(f"{path}: {time.process_time() - start:.1f} CPU s\n")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def orl_rows(
    out: Path,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    args: argparse.Namespace,
    *,
    orl: Path,
) -> dict[str, Any]:
    """Write the ORL clips once (only the people seed args.held_out_people_of held out) and measure them."""
    people = orl_people(orl)
    fitted, held_out = seeded_halves(people, args.held_out_people_of)
    if not (out / "gallery").is_dir():
        start = time.process_time()
        make_data(
            out,
            recognizer,
            orl=orl,
            seed=args.seed,
            bona=args.bona,
            attacks=args.attacks,
            frames=12,
            people_max=len(people),
            only_people=held_out,
        )
        sys.stderr.write(f"{out}: written in {time.process_time() - start:.1f} CPU s\n")
    written = sorted(p.stem for p in (out / "gallery").glob("*.png"))
    if set(written) & set(fitted):
        raise SystemExit(f"{out} holds people seed {args.held_out_people_of} fitted on")

    def measure() -> dict[str, object]:
        gallery = _gallery(recognizer, out / "gallery")
        classes: dict[str, object] = {}
        for cls in ("bona_fide", *ATTACK_SPECIES):
            sub = "bona_fide" if cls == "bona_fide" else f"attack/{cls}"
            paths = sorted(p for split in ("fit", "held_out") for p in (out / split / sub).glob("*.avi"))
            rows, unscored = _tracks(paths, recognizer, pad, gallery)
            classes[cls] = {"rows": rows, "never_scored": unscored}
        return {"people": written, "classes": classes}

    return _cached(out / "rule_check_rows.json", measure)


def video_rows(root: Path, recognizer: Recognizer, pad: PresentationAttackDetector) -> dict[str, Any]:
    """The attack clips of a make-attacks output, its bona fide photos enrolled."""

    def measure() -> dict[str, object]:
        gallery = _photo_gallery(recognizer, root / "bona_fide")
        classes: dict[str, object] = {}
        for species in ATTACK_SPECIES:
            paths = sorted((root / "videos" / "attack" / species).glob("*.avi"))
            rows, unscored = _tracks(paths, recognizer, pad, gallery)
            classes[species] = {"rows": rows, "never_scored": unscored}
        return {"classes": classes}

    return _cached(root / "videos" / "rule_check_rows.json", measure)


def judged(
    rows: Named, *, is_attack: bool, score: Callable[[Row], float], threshold: float
) -> dict[str, object]:
    """Errors at threshold (an attack scoring at or below it, a bona fide one above), their 95% upper
    bound, and the errors and three nearest misses with their values."""
    scores = {name: float(score(row)) for name, row in rows.items()}
    errors = sorted(n for n, s in scores.items() if (s <= threshold if is_attack else s > threshold))
    nearest = sorted(scores, key=lambda n: scores[n] if is_attack else -scores[n])[:3]
    count = len(scores)
    return {
        "presentations": count,
        "errors": len(errors),
        "rate": round(len(errors) / count, 6) if count else None,
        "upper_95": round(error_rate_upper_bound(len(errors), count), 6) if count else None,
        "error_rows": {n: {**rows[n], "score": round(scores[n], 4)} for n in errors},
        "nearest": {n: {**rows[n], "score": round(scores[n], 4)} for n in nearest},
    }


def report(
    sets: dict[str, dict[str, Any]],
    rule: PadTrackRule,
    rule_threshold: float,
    passive_at: float,
) -> dict[str, object]:
    """Per set and class: the rule at its threshold and the passive mean at the card's."""
    out: dict[str, object] = {}
    for set_name, classes in sets.items():
        for cls, entry in classes.items():
            rows: Named = entry["rows"]
            is_attack = cls != "bona_fide"
            out[f"{set_name}/{cls}"] = {
                "never_scored": entry["never_scored"],
                "rule": judged(rows, is_attack=is_attack, score=rule.score, threshold=rule_threshold),
                "passive": judged(
                    rows,
                    is_attack=is_attack,
                    score=lambda row: row[PASSIVE_FEATURE] or 0.0,
                    threshold=passive_at,
                ),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--orl-out", type=Path, help="ORL tracks here (written once)")
    parser.add_argument("--seed", type=int, default=31, help="generator seed of the ORL tracks")
    parser.add_argument("--bona", type=int, default=3, help="bona fide clips per person")
    parser.add_argument("--attacks", type=int, default=8, help="clips per person and attack species")
    parser.add_argument("--held-out-people-of", type=int, default=13, help="bench/pad_cues.py's fit seed")
    parser.add_argument("--attack-videos", action="append", default=[], metavar="NAME=ROOT")
    parser.add_argument("--stills", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--bpcer-target", type=float, default=0.01)
    args = parser.parse_args()
    settings = RecognitionSettings()
    cache = StorageSettings().home / "models"
    recognizer = build_recognizer(settings, cache_dir=cache)
    pad = build_pad_detector(settings, cache_dir=cache)
    orl = orl_dir(settings.data_dir)
    sets: dict[str, dict[str, Any]] = {}
    if args.orl_out:
        sets["orl"] = orl_rows(args.orl_out, recognizer, pad, args, orl=orl)["classes"]
    for spec in args.attack_videos:
        name, root = spec.split("=", 1)
        sets[name] = video_rows(Path(root), recognizer, pad)["classes"]
    for spec in args.stills:
        name, folder = spec.split("=", 1)
        photos = Path(folder)

        def measure(photos: Path = photos) -> dict[str, object]:
            rows, faceless = _stills(photos, recognizer, pad)
            return {"rows": rows, "never_scored": faceless}

        sets[f"{name}_stills"] = {
            "bona_fide": _cached(photos.parent / f"rule_check_stills_{photos.name}.json", measure)
        }
    # The rule is read only now, after every row is measured (the rows do not depend on it).
    card = read_pad_card(find_pad_card(pad_search_dirs(settings, cache_dir=cache)))
    rule, calibration = card.track_rule, card.calibration
    if rule is None or calibration is None:
        raise SystemExit("the PAD card needs a track rule and a passive calibration (rows are kept)")
    rule_threshold = rule.calibration.threshold_at(args.bpcer_target)
    passive_at = calibration.threshold_at(args.bpcer_target)
    result = {
        "rule": {
            "features": rule.features,
            "weights": rule.weights,
            "intercept": rule.intercept,
            "threshold": rule_threshold,
            "calibration": rule.calibration.dataset,
            "fitted_on": rule.fitted_on,
        },
        "passive_threshold": passive_at,
        "orl_people_fitted_on": sorted(seeded_halves(orl_people(orl), args.held_out_people_of)[0]),
        "results": report(sets, rule, rule_threshold, passive_at),
        "load_average": os.getloadavg(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
