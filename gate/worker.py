"""The per-camera loop: a plain function over frames, so tests and replays run production code (G3)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from gate.decision import TrackVotes, Verdict, Vote
from gate.door import DoorActuator
from gate.errors import ActuatorError
from gate.settings import GateSettings
from gate.stream import CapturedFrame, SourceOutage
from gate.tracker import IouTracker
from recognition import BgrImage, FaceIndex, FaceObservation, RecognitionError, Recognizer
from storage import AuditEventCreate, Decision, StorageError

logger = logging.getLogger(__name__)

CAMERA_UNAVAILABLE = "camera_unavailable"


@dataclass(frozen=True)
class GateDecision:
    """A decision about one track, with the frame it was reached on."""

    frame_index: int
    track_id: int
    verdict: Verdict
    threshold: float


def _vote(gallery: FaceIndex, observation: FaceObservation, threshold: float) -> Vote:
    matches = gallery.search(observation.embedding.vector, 1)
    if not matches:
        return Vote(person_id=None, score=0.0)
    best = matches[0]
    return Vote(person_id=best.person_id if best.score >= threshold else None, score=best.score)


def _open_door(actuator: DoorActuator, verdict: Verdict, *, door: str, unlock_s: float) -> Verdict:
    """Unlock for a grant; a door that fails to open turns the grant into a denial."""
    if verdict.decision is not Decision.granted:
        return verdict
    try:
        actuator.unlock(door=door, duration_s=unlock_s)
    except ActuatorError:
        logger.exception("door %s failed to unlock", door)
        return replace(verdict, decision=Decision.denied, reason="door_error")
    return verdict


def _outage_event(
    outage: SourceOutage, *, door: str, source_name: str, threshold: float, model_id: str
) -> AuditEventCreate:
    """The audit record of a camera outage: a denial with no track, person or score (F3)."""
    logger.warning("door %s: source %s unavailable (%s); door stays shut", door, source_name, outage.reason)
    return AuditEventCreate(
        door=door,
        source=source_name,
        decision=Decision.denied,
        reason=CAMERA_UNAVAILABLE,
        threshold=threshold,
        model_id=model_id,
    )


def _new_tracks(settings: GateSettings) -> tuple[IouTracker, dict[int, TrackVotes], set[int]]:
    tracker = IouTracker(iou_min=settings.track_iou_min, max_missed_frames=settings.track_max_missed_frames)
    return tracker, {}, set()


def run_gate(
    frames: Iterable[BgrImage | CapturedFrame | SourceOutage],
    *,
    door: str,
    source_name: str,
    recognizer: Recognizer,
    gallery: Callable[[], FaceIndex],
    actuator: DoorActuator,
    record: Callable[[AuditEventCreate], None],
    settings: GateSettings,
) -> Iterator[GateDecision]:
    """Detect, embed and match every frame; decide once per track by a k-of-n vote.

    A grant unlocks the door; every decision is then recorded (audit) and yielded. A frame whose
    recognition or gallery check fails is logged and casts no vote, and a door that fails to
    unlock turns the grant into a denial: the gate fails closed (F3). A SourceOutage from a live
    reader is audited as a denial with reason CAMERA_UNAVAILABLE and ends every open track, so no
    vote from before the outage counts after it. (Longer than B3's 40 lines: one loop, kept whole.)
    """
    tracker, votes, decided = _new_tracks(settings)
    threshold = recognizer.cos_threshold
    for frame_index, item in enumerate(frames):
        if isinstance(item, SourceOutage):
            record(
                _outage_event(
                    item,
                    door=door,
                    source_name=source_name,
                    threshold=threshold,
                    model_id=recognizer.model_id,
                )
            )
            tracker, votes, decided = _new_tracks(settings)
            continue
        frame = item.image if isinstance(item, CapturedFrame) else item
        try:
            observations = recognizer.observe(frame)
        except RecognitionError:
            logger.exception("frame %d of %s: recognition failed; frame skipped", frame_index, source_name)
            observations = []
        track_ids = tracker.update([observation.face.bbox for observation in observations])
        try:
            current_gallery = gallery()
        except (StorageError, RecognitionError):
            logger.exception("frame %d of %s: gallery unavailable; no votes", frame_index, source_name)
            continue
        for observation, track_id in zip(observations, track_ids, strict=True):
            if track_id in decided:
                logger.debug("frame %d track %d: already decided", frame_index, track_id)
                continue
            track_votes = votes.setdefault(
                track_id,
                TrackVotes(votes_required=settings.votes_required, window_frames=settings.vote_window_frames),
            )
            vote = _vote(current_gallery, observation, threshold)
            verdict = track_votes.add(vote)
            if verdict is None:
                logger.debug(
                    "frame %d track %d: vote person=%s score=%.3f, undecided",
                    frame_index,
                    track_id,
                    vote.person_id,
                    vote.score,
                )
                continue
            decided.add(track_id)
            verdict = _open_door(actuator, verdict, door=door, unlock_s=settings.door.unlock_s)
            logger.info(
                "door %s track %d: %s (%s) person=%s score=%.3f",
                door,
                track_id,
                verdict.decision.value,
                verdict.reason,
                verdict.person_id,
                verdict.score,
            )
            record(
                AuditEventCreate(
                    door=door,
                    source=source_name,
                    track_id=track_id,
                    decision=verdict.decision,
                    reason=verdict.reason,
                    person_id=verdict.person_id,
                    score=verdict.score,
                    threshold=threshold,
                    model_id=recognizer.model_id,
                )
            )
            yield GateDecision(
                frame_index=frame_index, track_id=track_id, verdict=verdict, threshold=threshold
            )
        live = tracker.live_ids()
        votes = {track_id: v for track_id, v in votes.items() if track_id in live}
        decided &= live
