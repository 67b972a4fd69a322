"""A simulated door rollout for `facegate pad calibrate-door`: monitor, calibrate, compare with the card.

Enrols `--people` LFW people (one photo each, warp border filled; person folders in name order with two
photos or more, none of the card calibration's every 5th folder from index 4) into a SQLite store. Day 1,
the monitor period: each person passes `--passes` times by day (colour) and as many times by night (grey),
bona fide stand-in clips of another photo of theirs (`recognition.bona_fide_video`: the photo pasted into a
scene, drifting, recaptured; not a live head). Day 2, held out: `--held-out-passes` new passes of each
colour, and one screen replay and one print clip (`attack_video`) of each person's enrolment photo in each
colour. Every clip runs through `gate.run_gate` with PAD in `monitor` (each event stamped with its day, its
source naming the clip's class), exactly as a door would record it. Then `gate.calibrate_door` on day 1, the
function `facegate pad calibrate-door` runs, and day 2's recorded scores are judged by the door's thresholds
and by the card's (`--card-colour`, `--card-grey`: written into a copy of the card; the defaults are the LFW
filled calibrations BENCHMARKS.md records; `--card-as-is`: the card's own calibrations, with the attack
evidence `pad calibrate --attacks` records, which the report then reads at both thresholds per colour). The
last stdout line is one JSON object. OUT keeps the store's master key (OUT/master.key) beside its database,
so that `FACEGATE_HOME=OUT facegate pad calibrate-door --door bench --since 2026-11-02 --until 2026-11-03`
verifies the audit chain and reports on the same events.

    facegate pad export --source ../shared/data/weights/minifasnet --out "$FACEGATE_HOME/models"
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/pad_door.py --pad-dir "$FACEGATE_HOME/models" \
        --lfw ../shared/data/faces/lfw/lfw-deepfunneled --out /tmp/pad-door
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import cv2
import numpy as np

from enrollment import EnrollmentRejected, EnrollmentSettings, Photo, enroll_new_person
from gate import (
    AccessPolicyCache,
    GalleryCache,
    GateSettings,
    LogOnlyDoor,
    PadSettings,
    calibrate_door,
    run_gate,
)
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    BgrImage,
    BpcerPoint,
    PadCalibration,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    attack_video,
    bona_fide_video,
    build_pad_detector,
    build_recognizer,
    fill_warp_padding,
    grey_frame,
    image_paths,
    read_pad_card,
    write_pad_card,
)
from storage import (
    AuditEventCreate,
    Cipher,
    Engine,
    EventFilter,
    StorageSettings,
    append_event,
    ensure_door,
    iter_event_rows,
    load_keyring,
    open_database,
    session_scope,
)

DOOR = "bench"
DAY1 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
SPECIES = ("screen_replay", "print")


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def people(lfw: Path, count: int) -> list[tuple[str, Path, Path]]:
    """(name, enrolment photo, clip photo) of the first `count` people with two photos or more, outside
    the card calibration's folders (every 5th from index 4)."""
    folders = sorted((p for p in lfw.iterdir() if p.is_dir()), key=lambda p: p.name)
    chosen = []
    for index, folder in enumerate(folders):
        photos = image_paths(folder)
        if index % 5 != 4 and len(photos) >= 2:
            chosen.append((folder.name, photos[0], photos[1]))
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"only {len(chosen)} people with two photos in {lfw}")


def read_filled(path: Path) -> BgrImage:
    return fill_warp_padding(np.asarray(cv2.imread(str(path)), dtype=np.uint8))


def card_with(
    pad_dir: Path, scratch: Path, *, colour: float | None, grey_at: float | None
) -> PresentationAttackDetector:
    """The PAD stage from a copy of `pad_dir` whose card holds these BPCER-1% thresholds (None: the card
    as it is, its calibrations and their attack evidence kept)."""
    models = scratch / "models"
    shutil.copytree(pad_dir, models)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    settings = RecognitionSettings(model_dir=models, bundle_dirs=[], allow_model_download=False)
    if colour is None or grey_at is None:
        return build_pad_detector(settings, cache_dir=scratch / "cache")

    def at(dataset: str, threshold: float) -> PadCalibration:
        point = BpcerPoint(bpcer=0.01, attack_threshold=threshold)
        return PadCalibration(dataset=dataset, bona_fide_count=1565, points=(point,))

    card = read_pad_card(card_path).model_copy(
        update={"calibration": at("LFW filled", colour), "grey_calibration": at("LFW filled, grey", grey_at)}
    )
    write_pad_card(card, card_path)
    return build_pad_detector(settings, cache_dir=scratch / "cache")


def monitor(
    engine: Engine,
    keyring: Cipher,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    clips: Iterable[list[BgrImage]],
    *,
    label: str,
    day: datetime,
) -> int:
    """Run the clips through the gate in monitor (an empty frame after each ends its track), made as the
    gate reads them (a day's clips do not fit in memory); how many decisions."""
    settings = GateSettings(pad=PadSettings(policy="monitor"), track_max_missed_frames=0)
    settings.decision.cooldown_s = 0.0
    frames = (frame for clip in clips for frame in (*clip, np.full_like(clip[0], 96)))

    def record(event: AuditEventCreate) -> None:
        with session_scope(engine) as session:
            append_event(session, keyring, event.model_copy(update={"occurred_at": day}))

    with session_scope(engine) as session:
        ensure_door(session, name=DOOR)  # registered, as an admin does before the gate starts
    decisions = run_gate(
        frames,
        door=DOOR,
        source_name=label,
        recognizer=recognizer,
        gallery=GalleryCache(
            engine=engine, keyring=keyring, recognizer=recognizer, poll_s=60.0, monotonic=time.monotonic
        ).current,
        access=AccessPolicyCache(engine=engine, door=DOOR, poll_s=60.0, monotonic=time.monotonic).current,
        actuator=LogOnlyDoor(),
        record=record,
        settings=settings,
        monotonic=time.monotonic,
        utc_now=lambda: day,
        pad=pad,
    )
    return sum(1 for _ in decisions)


def day2_scores(engine: Engine) -> dict[tuple[str, str], list[float]]:
    """Day 2's PAD scores by (clip class, colour the event recorded)."""
    scores: dict[tuple[str, str], list[float]] = {}
    columns = ("source", "pad_score", "pad_cues")
    day2 = EventFilter(door=DOOR, since=DAY2, until=DAY2 + timedelta(1))
    for batch in iter_event_rows(engine, columns=columns, where=day2):
        for source, score, cues in batch:
            if score is not None:
                scores.setdefault((source, json.loads(cues)["colour"]), []).append(float(score))
    return scores


def enrol(
    engine: Engine, keyring: Cipher, recognizer: Recognizer, chosen: list[tuple[str, Path, Path]]
) -> int:
    """Enrol each person from their first photo (warp border filled); how many enrollment took."""
    enrolled = 0
    for name, enrol_path, _ in chosen:
        photo = Photo(enrol_path.name, cv2.imencode(".jpg", read_filled(enrol_path))[1].tobytes())
        try:
            with session_scope(engine) as session:
                enroll_new_person(
                    session, keyring, recognizer, name=name, photos=[photo], settings=EnrollmentSettings()
                )
            enrolled += 1
        except EnrollmentRejected:  # that person is not at this door; their clips go unmatched
            log(f"{name}: enrollment refused the photo")
    return enrolled


def record_days(
    engine: Engine,
    keyring: Cipher,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    chosen: list[tuple[str, Path, Path]],
    args: argparse.Namespace,
) -> dict[str, int]:
    """Day 1's and day 2's clips through the gate in monitor; decisions per clip class and colour."""
    rng = np.random.default_rng(args.seed)
    clip_photos = [read_filled(clip_path) for _, _, clip_path in chosen]
    enrol_photos = [read_filled(enrol_path) for _, enrol_path, _ in chosen]

    def make_clips(label: str, *, is_grey: bool) -> Iterator[list[BgrImage]]:
        """Bona fide passes of each person (day 1: `passes`, day 2: `held_out_passes`), or one attack each."""
        if label in SPECIES:
            clips = (attack_video(photo, label, rng, frames=3) for photo in enrol_photos)
        else:
            passes = args.passes if label == "monitor" else args.held_out_passes
            clips = (bona_fide_video(photo, rng, frames=3) for _ in range(passes) for photo in clip_photos)
        return ([grey_frame(f) for f in clip] if is_grey else clip for clip in clips)

    plan = [("monitor", DAY1), ("bona_fide", DAY2), *((species, DAY2) for species in SPECIES)]
    decided: dict[str, int] = {}
    for label, day in plan:
        for colour in ("colour", "grey"):
            clips = make_clips(label, is_grey=colour == "grey")
            key = f"{label} {colour}"
            decided[key] = monitor(engine, keyring, recognizer, pad, clips, label=label, day=day)
            log(f"{key}: {decided[key]} decisions, {time.process_time():.0f} CPU s")
    return decided


def judge(
    engine: Engine, keyring: Cipher, pad: PresentationAttackDetector, bpcer_target: float
) -> dict[str, Any]:
    """Calibrate the door on day 1; day 2's scores above the door's and the card's thresholds per colour."""
    result = calibrate_door(
        engine,
        keyring=keyring,
        door=DOOR,
        settings=PadSettings(policy="monitor", bpcer_target=bpcer_target),
        detector=pad,
        bpcer_target=bpcer_target,
        since=DAY1,
        until=DAY2,
    )
    held_out = day2_scores(engine)
    colours: dict[str, Any] = {}
    for found in result.colours:
        door_at = found.card_threshold if found.calibration is None else found.calibration.attack_threshold
        day2 = {}
        for label in ("bona_fide", *SPECIES):
            scores = held_out.get((label, found.colour), [])
            day2[label] = {
                "tracks": len(scores),
                "above_door_threshold": sum(s > door_at for s in scores),
                "above_card_threshold": sum(s > found.card_threshold for s in scores),
            }
        attacks = found.attacks
        colours[found.colour] = {
            "card_attack_evidence": None
            if attacks is None
            else {
                "dataset": attacks.dataset,
                "is_weaker": attacks.is_weaker,
                "apcer": {
                    s.species: {"attacks": s.attack_count, "door": s.apcer_at_door, "card": s.apcer_at_card}
                    for s in attacks.species
                },
            },
            "card_attack_evidence_missing": found.attacks_missing,
            "day1_events": found.event_count,
            "door_threshold": door_at,
            "day1_refused_at_door": found.refused_at_door,
            "card_threshold": found.card_threshold,
            "day1_refused_at_card": found.refused_at_card,
            "day2": day2,
        }
    return {
        "calibration": result.calibration.model_dump(mode="json"),
        "colours": colours,
        "weaker_pad_summary": result.weaker_pad_summary(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pad-dir", type=Path, required=True, help="model dir holding minifasnet-pad/")
    parser.add_argument("--lfw", type=Path, required=True, help="LFW's folder of person folders")
    parser.add_argument("--out", type=Path, required=True, help="scratch dir: the database stays here")
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--passes", type=int, default=11, help="day 1 passes per person and colour")
    parser.add_argument("--held-out-passes", type=int, default=3, help="day 2 passes per person and colour")
    parser.add_argument("--bpcer-target", type=float, default=0.01)
    parser.add_argument("--card-colour", type=float, default=0.8440016508102417)
    parser.add_argument("--card-grey", type=float, default=0.9998083320)
    parser.add_argument(
        "--card-as-is",
        action="store_true",
        help="the card's own calibrations (and their attack evidence), not --card-colour/--card-grey",
    )
    parser.add_argument("--seed", type=int, default=41)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=False)
    recognizer = build_recognizer(
        RecognitionSettings(allow_model_download=False), cache_dir=args.out / "cache"
    )
    if args.card_as_is:
        pad = card_with(args.pad_dir, args.out, colour=None, grey_at=None)
    else:
        pad = card_with(args.pad_dir, args.out, colour=args.card_colour, grey_at=args.card_grey)
    storage = StorageSettings(home=args.out)  # FACEGATE_HOME=OUT: `facegate pad calibrate-door` reads both
    engine = open_database(storage)  # the settings' pool and connect timeout too
    keyring = load_keyring(storage, create_if_missing=True)  # kept: the command verifies the chain with it
    chosen = people(args.lfw, args.people)
    report: dict[str, Any] = {"people": len(chosen), "enrolled": enrol(engine, keyring, recognizer, chosen)}
    report["decisions"] = record_days(engine, keyring, recognizer, pad, chosen, args)
    report |= judge(engine, keyring, pad, args.bpcer_target)
    report["cpu_s"] = round(time.process_time(), 1)
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
