"""The per-camera loop: a plain function over frames, so tests and replays run production code (G3).

Per frame: drop it if it is older than max_frame_age_s; detect; track; for each face of a track
not yet decided, embed it (unless its quality is below min_face_quality), search the two best
identities and cast a vote (decision.py). A track is decided once; a person decided at this door is
not decided again within cooldown_s; a grant the door's access policy does not allow now becomes
not_authorised. Every failure keeps the door shut and is audited with its reason (F3):
camera_unavailable, gallery_unavailable, unknown_door and recognition_error at most once per
error_audit_interval_s, gallery_empty and unknown_model once per track, door_error per decision (a door
command sent but not confirmed is no certain denial: it stays granted, as door_unconfirmed).
An unavailable gallery, a failing detector and a failing embedder are each logged when they start
(with the cause and its traceback), then as a count once per error_audit_interval_s, and when they
end (gate/loop_failures.py); not once per frame. So are frames too old to decide on (a loop behind).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from gate.access_policy import DoorPolicy
from gate.decision import (
    GALLERY_EMPTY,
    GALLERY_UNAVAILABLE,
    LOW_QUALITY,
    RECOGNITION_ERROR,
    UNKNOWN_DOOR,
    UNKNOWN_MODEL,
    Cooldowns,
    TrackVotes,
    Verdict,
    Vote,
    cast_vote,
    describe_rule,
    face_quality,
)
from gate.door import DoorActuator
from gate.door_outcome import DoorOutcome
from gate.errors import GateError, UnknownDoor
from gate.loop_failures import loop_failure_logs
from gate.loop_io import GalleryReader, GateDecision, GateIo
from gate.pad import PadGate, scope_label
from gate.settings import GateSettings
from gate.stream import CapturedFrame, SourceOutage
from gate.threshold import DoorThreshold, door_operating_threshold, door_start_threshold
from gate.tracker import IouTracker
from recognition import (
    BgrImage,
    DetectedFace,
    MarginRule,
    Match,
    PresentationAttackDetector,
    RecognitionError,
    Recognizer,
)
from storage import AuditEventCreate, Decision, StorageError

logger = logging.getLogger(__name__)

_CANDIDATES = 2  # the best identity and its runner-up, for the margin


@dataclass(frozen=True)
class _Context:
    """What this frame is decided against: gallery, door policy, threshold and the rule text."""

    gallery: GalleryReader
    policy: DoorPolicy
    threshold: DoorThreshold
    rule: str
    blocked_reason: str | None
    """GALLERY_EMPTY or UNKNOWN_MODEL: every track is denied without a vote."""
    confusable: Container[tuple[int, int]]
    """Look-alike pairs of this gallery at this threshold: they need the wider margin."""


class _GateLoop:
    """The state of one door's loop: tracks, votes, cooldowns and the error audit rate limit."""

    def __init__(
        self,
        *,
        door: str,
        camera: str | None,
        source_name: str,
        io: GateIo,
        settings: GateSettings,
        first_track_id: int,
    ) -> None:
        self.door, self.source_name, self.io, self.settings = door, source_name, io, settings
        self.where = scope_label(door, camera, source=source_name)  # what a refusal to start names
        self.decision = settings.decision
        self.cooldowns = Cooldowns(cooldown_s=self.decision.cooldown_s)
        self.outcome = DoorOutcome(
            door=door, source_name=source_name, io=io, settings=settings, logger=logger
        )
        self.unavailable, self.detection, self.recognition, self.stale = loop_failure_logs(
            logger,
            where=f"door {door}, source {source_name}",
            interval_s=self.decision.error_audit_interval_s,
            monotonic=io.monotonic,
        )
        self.margins = MarginRule(
            min_margin_cos=self.decision.min_margin_cos,
            confusable_margin_cos=self.decision.confusable_margin_cos,
        )
        # a target the model cannot meet stops the gate here, not at the first face (nor mid-stream)
        self._threshold_at = (
            1,
            door_start_threshold(io.recognizer, fpir_target=self.decision.fpir_target, where=self.where),
        )
        self.pad = PadGate(settings.pad, io.pad, door=door, camera=camera, source=source_name)
        self.tracker = IouTracker(
            iou_min=settings.track_iou_min,
            max_missed_frames=settings.track_max_missed_frames,
            first_id=first_track_id,
        )
        self.votes: dict[int, TrackVotes] = {}
        self.decided: set[int] = set()

    def _end_tracks(self) -> None:
        """End every track with its votes, decision and PAD evidence; none of it may count for a later track.

        The tracker keeps counting, so a track after an outage gets a new id, never an earlier track's.
        """
        self.tracker.end_all()
        self.votes = {}
        self.decided = set()
        self.pad.keep_only(set())

    def step(self, frame_index: int, item: BgrImage | CapturedFrame | SourceOutage) -> Iterator[GateDecision]:
        """Process one frame (or outage); yields the decisions it reached."""
        if isinstance(item, SourceOutage):
            self._outage(item)
            return
        if self._is_stale(frame_index, item):
            return
        image = item.image if isinstance(item, CapturedFrame) else item
        faces = self._detect(frame_index, image)
        if faces is None or self._is_stale(frame_index, item):  # detection may have taken too long
            return
        self.stale.recovered()
        track_ids = self.tracker.update([face.bbox for face in faces])
        pending = [
            (face, track) for face, track in zip(faces, track_ids, strict=True) if track not in self.decided
        ]
        if len(pending) < len(faces):
            logger.debug(
                "frame %d: %d faces of decided tracks not embedded", frame_index, len(faces) - len(pending)
            )
        context = self._context(frame_index) if pending else None
        if context is not None:
            for face, track_id in pending:
                decision = self._track_step(frame_index, image, face, track_id, context)
                if decision is not None:
                    yield decision
        live = self.tracker.live_ids()
        self.votes = {track_id: v for track_id, v in self.votes.items() if track_id in live}
        self.decided &= live
        self.pad.keep_only(live)

    def _is_stale(self, frame_index: int, item: BgrImage | CapturedFrame) -> bool:
        """A live frame older than max_frame_age_s is never decided on; a replayed image is always fresh."""
        if not isinstance(item, CapturedFrame):
            return False
        age_s = self.io.monotonic() - item.captured_at_s
        if age_s <= self.decision.max_frame_age_s:
            return False
        self.stale.failed(
            f"{age_s:.2f} s old (limit {self.decision.max_frame_age_s:.2f} s)", at=f"frame {frame_index}"
        )
        return True

    def _detect(self, frame_index: int, image: BgrImage) -> list[DetectedFace] | None:
        try:
            faces = self.io.recognizer.detect(image)
        except RecognitionError as exc:
            self.detection.failed(exc, at=f"frame {frame_index}")
            self._fail_closed(RECOGNITION_ERROR, exc)
            return None
        self.detection.recovered()
        return faces

    def _context(self, frame_index: int) -> _Context | None:
        """Gallery, policy and threshold for this frame; None (audited) when they cannot be had."""
        try:
            gallery = self.io.gallery()
            policy = self.io.access()
        except UnknownDoor as exc:
            logger.debug("frame %d of %s: %s; door stays shut", frame_index, self.source_name, exc)
            self._fail_closed(UNKNOWN_DOOR, exc)
            return None
        except (StorageError, RecognitionError, GateError) as exc:
            self.unavailable.failed(exc, at=f"frame {frame_index}")
            self._fail_closed(GALLERY_UNAVAILABLE, exc)
            return None
        self.unavailable.recovered()
        threshold = self._threshold(len(gallery))
        blocked = None
        if gallery.model_id != self.io.recognizer.model_id:
            logger.error(
                "gallery model %s is not the running model %s", gallery.model_id, self.io.recognizer.model_id
            )
            blocked = UNKNOWN_MODEL
        elif len(gallery) == 0:
            blocked = GALLERY_EMPTY
        confusable = gallery.lookalikes(threshold.cos_threshold)
        rule = describe_rule(
            votes_required=self.decision.votes_required,
            window_frames=self.decision.vote_window_frames,
            cos_threshold=threshold.cos_threshold,
            basis=threshold.basis,
            min_margin_cos=self.decision.min_margin_cos,
            confusable_margin_cos=self.decision.confusable_margin_cos if confusable else None,
        )
        return _Context(
            gallery=gallery,
            policy=policy,
            threshold=threshold,
            rule=rule,
            blocked_reason=blocked,
            confusable=confusable,
        )

    def _required_margin_cos(self, matches: list[Match], context: _Context) -> float:
        """The wider margin when the best and the runner-up identity are a known look-alike pair."""
        if len(matches) < _CANDIDATES:
            return self.margins.min_margin_cos
        first, second = matches[0].person_id, matches[1].person_id
        pair = (min(first, second), max(first, second))
        return self.margins.required_margin_cos(is_confusable=pair in context.confusable)

    def _threshold(self, gallery_size: int) -> DoorThreshold:
        """The door's threshold, recomputed only when the gallery size changes.

        It cannot refuse here: the start (door_start_threshold) refused any target the model cannot meet,
        and no gallery size changes that.
        """
        if self._threshold_at[0] != gallery_size:
            threshold = door_operating_threshold(
                self.io.recognizer, fpir_target=self.decision.fpir_target, gallery_size=gallery_size
            )
            self._threshold_at = (gallery_size, threshold)
        return self._threshold_at[1]

    def _last_cos_threshold(self) -> float:
        """The threshold of the last gallery seen (a gallery of one's before any), for failure events."""
        return self._threshold_at[1].cos_threshold

    def _track_step(
        self, frame_index: int, image: BgrImage, face: DetectedFace, track_id: int, context: _Context
    ) -> GateDecision | None:
        """Vote with one face of an undecided track; the decision if this vote completes one."""
        quality = face_quality(face)
        if context.blocked_reason is not None:
            blocked = Verdict(Decision.denied, context.blocked_reason, None, None, quality=quality)
            return self._decide(
                frame_index, track_id, blocked, context, rule=f"fail closed: {blocked.reason}"
            )
        vote = self._vote(frame_index, image, face, track_id, context)
        if vote is None:
            return None
        track_votes = self.votes.setdefault(
            track_id,
            TrackVotes(
                votes_required=self.decision.votes_required, window_frames=self.decision.vote_window_frames
            ),
        )
        verdict = track_votes.add(vote)
        if verdict is None:
            logger.debug(
                "frame %d track %d: vote %s score=%s margin=%s, undecided",
                frame_index,
                track_id,
                vote.key,
                vote.score,
                vote.margin_cos,
            )
            return None
        return self._decide(frame_index, track_id, verdict, context, rule=context.rule)

    def _vote(
        self, frame_index: int, image: BgrImage, face: DetectedFace, track_id: int, context: _Context
    ) -> Vote | None:
        """The face's vote; a low-quality face abstains unembedded; None (audited) when recognition fails."""
        quality = face_quality(face)
        if quality < self.decision.min_face_quality:
            logger.debug(
                "frame %d track %d: face quality %.2f too low; not embedded", frame_index, track_id, quality
            )
            return Vote(person_id=None, score=None, quality=quality, abstention=LOW_QUALITY)
        try:
            embedding = self.io.recognizer.embed(image, face)
            matches = context.gallery.search(embedding.vector, _CANDIDATES)
            vote = cast_vote(
                matches,
                cos_threshold=context.threshold.cos_threshold,
                min_margin_cos=self._required_margin_cos(matches, context),
                quality=quality,
            )
            self.pad.observe(track_id, image, face, vote)
        except RecognitionError as exc:
            self.recognition.failed(exc, at=f"frame {frame_index} track {track_id}")
            self._fail_closed(RECOGNITION_ERROR, exc, track_id=track_id)
            return None
        self.recognition.recovered()
        return vote

    def _decide(
        self, frame_index: int, track_id: int, verdict: Verdict, context: _Context, *, rule: str
    ) -> GateDecision | None:
        """Apply cooldown and access policy, drive the door, audit; None when the cooldown swallows it."""
        self.decided.add(track_id)
        if verdict.person_id is not None:
            now_s = self.io.monotonic()
            if self.cooldowns.is_cooling(verdict.person_id, now_s):
                logger.debug(
                    "track %d: person %d decided here within the cooldown", track_id, verdict.person_id
                )
                return None
            self.cooldowns.start(verdict.person_id, now_s)
        verdict, pad = self.pad.judge(track_id, verdict)
        verdict = self.outcome.settle(
            track_id,
            verdict,
            policy=context.policy,
            threshold=context.threshold.cos_threshold,
            rule=rule,
            pad=pad,
        )
        return GateDecision(
            frame_index=frame_index,
            track_id=track_id,
            verdict=verdict,
            threshold=context.threshold.cos_threshold,
        )

    def _fail_closed(self, reason: str, error: Exception | None, *, track_id: int | None = None) -> None:
        """Audit a denial for a failure, at most once per error_audit_interval_s for each reason."""
        self.outcome.fail_closed(reason, error, threshold=self._last_cos_threshold(), track_id=track_id)

    def _outage(self, outage: SourceOutage) -> None:
        """A camera outage: audited as a denial, and every open track ends (no vote survives it)."""
        self.outcome.outage(outage, threshold=self._last_cos_threshold())
        self._end_tracks()


def run_gate(
    frames: Iterable[BgrImage | CapturedFrame | SourceOutage],
    *,
    door: str,
    source_name: str,
    recognizer: Recognizer,
    gallery: Callable[[], GalleryReader],
    access: Callable[[], DoorPolicy],
    actuator: DoorActuator,
    record: Callable[[AuditEventCreate], None],
    settings: GateSettings,
    monotonic: Callable[[], float],
    utc_now: Callable[[], datetime],
    pad: PresentationAttackDetector | None = None,
    camera: str | None = None,
    first_track_id: int = 1,
) -> Iterator[GateDecision]:
    """Decide once per track by a k-of-n vote over fresh frames; audit every decision and failure.

    A grant unlocks the door; every decision is then recorded (audit) and yielded. Failures never
    unlock: the gate fails closed (F3, see the module docstring). A SourceOutage from a live reader is
    audited as a denial with reason CAMERA_UNAVAILABLE and ends every open track, so no vote from
    before the outage counts after it.

    Args:
        frames: images (a replay: always fresh), live CapturedFrames and SourceOutages.
        gallery: the current gallery; raising means it cannot be trusted (audited, door shut).
        access: the door's current access policy, loaded beside the gallery.
        record: writes one audit event.
        monotonic: seconds, the clock CapturedFrame.captured_at_s was read from (frame age, cooldown).
        utc_now: aware UTC time, for the door's weekly access schedule.
        pad: the presentation-attack detector, required unless `settings.pad.policy` is off (gate/pad.py).
        camera: the camera's name in the gates file, which names it in a refusal to start (as `--check-config`
            does); None for an unnamed one (the single-camera form, a replay), named by `source_name`.
        first_track_id: the id of the run's first track, the next ones count up: a gate process passes
            `first_track_id(start)` (gate/tracker.py), so a restarted run never reuses an earlier run's ids.
    """
    io = GateIo(
        recognizer=recognizer,
        gallery=gallery,
        access=access,
        actuator=actuator,
        record=record,
        monotonic=monotonic,
        utc_now=utc_now,
        pad=pad,
    )
    loop = _GateLoop(
        door=door,
        camera=camera,
        source_name=source_name,
        io=io,
        settings=settings,
        first_track_id=first_track_id,
    )
    for frame_index, item in enumerate(frames):
        yield from loop.step(frame_index, item)
