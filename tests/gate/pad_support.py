"""The PAD gate tests' shared parts: the authors' sample photos, PAD cards with chosen fields, a gate run."""

from __future__ import annotations

import functools
import secrets
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from enrollment import EnrollmentSettings, Photo, enroll
from gate import AccessPolicyCache, GalleryCache, GateDecision, GateSettings, PadSettings, run_gate
from recognition import (
    PAD_CARD_DIR,
    PAD_CARD_FILE,
    PASSIVE_FEATURE,
    BpcerPoint,
    PadCalibration,
    PadTrackRule,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    bona_fide_video,
    build_pad_detector,
    read_pad_card,
    write_pad_card,
)
from storage import (
    AuditEventCreate,
    AuditEventPublic,
    Decision,
    Engine,
    EventFilter,
    Keyring,
    append_event,
    create_person,
    ensure_door,
    make_engine,
    query_events,
    session_scope,
)
from tests.data import encode_jpeg, minifasnet_dir
from tests.fakes import FakeClock, RecordingDoor

DOOR = "front"
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def sample(name: str) -> np.ndarray:
    """One of the authors' sample photos (image_T1.jpg: live; image_F1.jpg: an attack)."""
    return cv2.imread(str(minifasnet_dir() / "samples" / name))


def grey(image: np.ndarray) -> np.ndarray:
    """The frame a door camera in night/IR mode delivers: three equal channels."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def door_clips(count: int, *, seed: int, is_grey: bool = False) -> list[np.ndarray]:
    """`count` bona fide stand-in clips of the live sample (3 frames pasted into a scene of its own,
    drifting), each followed by an empty frame that ends its track (with `track_max_missed_frames=0`); in
    grey for a night/IR camera. Fresh copies of frames rendered once per run for these arguments: a test's
    SQLite and PostgreSQL runs, and tests of one seed, render the same frames (about 0.1 CPU-s a clip)."""
    return [frame.copy() for frame in _rendered_door_clips(count, seed, is_grey=is_grey)]


@functools.lru_cache(maxsize=8)  # a test asks for up to 5; at most 8 × 12 clips × 4 frames × 0.9 MB
def _rendered_door_clips(count: int, seed: int, *, is_grey: bool) -> tuple[np.ndarray, ...]:
    live, rng, frames = sample("image_T1.jpg"), np.random.default_rng(seed), []
    for _ in range(count):
        clip = bona_fide_video(live, rng, frames=3)
        frames += [grey(frame) if is_grey else frame for frame in clip]
        frames.append(np.full_like(clip[0], 96))
    return tuple(frames)


def pad_gate_settings(policy: str, *, bpcer_target: float, **pad: object) -> GateSettings:
    """A door's settings under PAD `policy` at `bpcer_target` (and `pad`'s other fields), for `door_clips`:
    a track ends at the first frame without it, and no cooldown holds the next one back."""
    settings = GateSettings(
        pad=PadSettings.model_validate({"policy": policy, "bpcer_target": bpcer_target, **pad}),
        track_max_missed_frames=0,
    )
    settings.decision.cooldown_s = 0.0
    return settings


def pad_with(pad_model_dir: Path, tmp_path: Path, **card_fields: object) -> PresentationAttackDetector:
    """The PAD stage from a copy of the converted PAD model directory whose card holds `card_fields`."""
    models = tmp_path / "models"
    shutil.copytree(pad_model_dir, models)
    card_path = models / PAD_CARD_DIR / PAD_CARD_FILE
    write_pad_card(read_pad_card(card_path).model_copy(update=card_fields), card_path)
    settings = RecognitionSettings(model_dir=models, bundle_dirs=[], allow_model_download=False)
    return build_pad_detector(settings, cache_dir=tmp_path / "cache")


def calibration_at(dataset: str, threshold: float) -> PadCalibration:
    """A card calibration with one point: BPCER 1% at `threshold`."""
    return PadCalibration(
        dataset=dataset, bona_fide_count=100, points=(BpcerPoint(bpcer=0.01, attack_threshold=threshold),)
    )


def hand_set_rule(features: tuple[str, ...]) -> PadTrackRule:
    """A rule whose second feature (the edge of a phone around the face) weighs most; threshold 0.5."""
    return PadTrackRule(
        features=features,
        centre=(0.5, 0.3),
        scale=(0.25, 0.25),
        weights=(1.0, 4.0),
        intercept=0.0,
        calibration=calibration_at("hand-set", 0.5),
        fitted_on="hand-set for this test",
    )


def run_pad_gate(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    pad: PresentationAttackDetector | None,
    frames: Sequence[np.ndarray],
    *,
    settings: GateSettings,
    door: str = DOOR,
    at: datetime = NOON,
    source: str = "replay:pad",
) -> tuple[list[GateDecision], list[AuditEventPublic]]:
    """`run_gate` over `frames` at `door` from camera `source`, each event appended to the real audit log
    stamped `at` (as the gate's journal stamps it with its clock); the decisions and all of the door's events,
    oldest first."""
    clock = FakeClock(100.0)

    def record(event: AuditEventCreate) -> None:
        with session_scope(engine) as session:
            append_event(session, keyring, event.model_copy(update={"occurred_at": at}))

    with session_scope(engine) as session:
        ensure_door(session, name=door)  # registered, as an admin does before the gate starts
    decisions = list(
        run_gate(
            frames,
            door=door,
            source_name=source,
            recognizer=recognizer,
            gallery=GalleryCache(
                engine=engine, keyring=keyring, recognizer=recognizer, poll_s=2.0, monotonic=clock
            ).current,
            access=AccessPolicyCache(engine=engine, door=door, poll_s=2.0, monotonic=clock).current,
            actuator=RecordingDoor(),
            record=record,
            settings=settings,
            monotonic=clock,
            utc_now=lambda: at,
            pad=pad,
        )
    )
    with session_scope(engine) as session:
        events, _ = query_events(session, where=EventFilter(door=door), limit=1000)
    return decisions, sorted(events, key=lambda e: e.id)


CHAINED = {"id", "sequence", "link_hash", "event_uid"}
"""Fields of a public event that the chain sets, and the writer's id (unique): left out to append a copy."""


def record_door_events(
    root: Path,
    migrated_sqlite_file: Path,
    recognizer: Recognizer,
    pad_model_dir: Path,
    pad_detector: PresentationAttackDetector,
) -> dict[str, tuple[AuditEventPublic, ...]]:
    """The front door's monitor events as the gate records them (at BPCER target 0.5, at NOON, from
    `replay:pad`), on a scratch SQLite database under `root` with T1 enrolled first, as the tests enrol T1
    first in theirs: 10 colour tracks decided by the passive score (`passive`), and 10 colour and 10 grey
    ones by the hand-set track rule (`rule`, `rule_grey`). Detection, embedding and PAD of every frame were
    most of the door calibration tests' CPU time: the session fixture `recorded` runs this once, and
    `replayed` appends the events to a test's own audit log."""
    shutil.copyfile(migrated_sqlite_file, root / "facegate.db")
    scratch, keyring = make_engine(f"sqlite:///{root / 'facegate.db'}"), Keyring([secrets.token_bytes(32)])
    with session_scope(scratch) as session:
        person = create_person(session, name="T1")
        assert person.id is not None
        photo = Photo("0.jpg", encode_jpeg(sample("image_T1.jpg")))
        enroll(
            session, keyring, recognizer, person_id=person.id, photos=[photo], settings=EnrollmentSettings()
        )
    with_rule = pad_with(pad_model_dir, root, track_rule=hand_set_rule((PASSIVE_FEATURE, "frame_edges")))
    settings = pad_gate_settings("monitor", bpcer_target=0.5)
    events: dict[str, tuple[AuditEventPublic, ...]] = {}
    for name, detector, clips in (
        ("passive", pad_detector, door_clips(10, seed=7)),
        ("rule", with_rule, door_clips(10, seed=23)),
        ("rule_grey", with_rule, door_clips(10, seed=26, is_grey=True)),
    ):
        seen = sum(len(before) for before in events.values())
        _, door_events = run_pad_gate(scratch, keyring, recognizer, detector, clips, settings=settings)
        events[name] = tuple(door_events[seen:])
        assert len(events[name]) == 10 and all(e.decision is Decision.granted for e in events[name])
    scratch.dispose()
    return events


def replayed(engine: Engine, keyring: Keyring, events: Sequence[AuditEventPublic]) -> list[AuditEventPublic]:
    """`events` (of `recorded`) appended to the front door's audit log as their gate recorded them (a copy
    under this log's chain and MAC, as `run_pad_gate` appends a gate's events): the appended, oldest first."""
    with session_scope(engine) as session:
        ensure_door(session, name=DOOR)
        appended = [
            append_event(session, keyring, AuditEventCreate(**e.model_dump(exclude=CHAINED))) for e in events
        ]
    return sorted(appended, key=lambda e: e.id)
