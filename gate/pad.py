"""Presentation-attack decision per track: PAD scores collected over a track's frames, per-door policy.

`off` runs nothing. `monitor` scores and records the would-be verdict in every event, and never denies.
`enforce` turns a track whose mean attack score is above the door's threshold into a denial with reason
PRESENTATION_ATTACK. PAD scores only the frames a track needs: frames whose vote counts for an enrolled
person (an unknown face is denied anyway), up to `frames_required` per track. The threshold comes from the
PAD card's calibration at `bpcer_target`; an uncalibrated card falls back to the authors' rule (0.5) and
says so in the event.

A frame whose face fills it (recognition's `min_crop_scale_ratio`: the nets' crops cannot keep their
scale) is not PAD evidence: the still-photo treatment of such faces, a crop grown by edge replication,
would let a phone held close to the camera through (BENCHMARKS.md, PAD). It does not use up
`frames_required`; a track that had only such frames is denied PAD_FACE_TOO_CLOSE under `enforce`.

Track cues (recognition's FRAME_CUES and TRACK_CUES): frame cues are computed on the frames PAD scores
(the first `frames_required` frames matching a person) and averaged; track cues over those frames in
order. When the PAD card holds a fitted track rule (and `allow_track_rule`), the rule's score over the
passive mean and the cues decides, at the rule's own threshold for `bpcer_target` (of the track's colour,
below); otherwise the passive mean decides. The event's PAD score and threshold are the deciding ones; its
cues hold the passive mean (`passive`), each net's output and each cue's value, and a rule-decided one the
rule's hash (`track_rule_sha256`: its coefficients, so that a refit rule's events are told from the old
one's).

Colour: MiniFASNet scores grey live faces far higher than colour ones, so a door camera in night/IR mode
(grey frames) held to the colour calibration would refuse most employees. Without a track rule, a track
whose every PAD frame is grey (`PadScore.is_grayscale`) is held to the card's grey calibration when it has
one; a track with any colour frame, or a card without a grey calibration, to the colour one (`calibration`),
the strict one for grey frames. The event's cues record which (`colour`: grey|colour|none, and `basis`),
inside the MAC-covered cues like every other value, so old events verify as before. The track rule likewise:
a wholly grey track is held to the rule's grey calibration when it has one (thresholds on the same score
measured on grey bona fide tracks; basis `track rule, grey tracks: ...`), else to its colour thresholds, as
before it had one (basis `..., no grey calibration`, and a warning at start): those refuse grey live tracks
far above their target (BENCHMARKS.md, "Eleventh session (helper padgreytracks)"). A grey calibration (the
card's or the rule's) with no point at or below the door's `bpcer_target` holds no grey track at it: they keep
the colour threshold, as without one (basis `..., no grey calibration at BPCER 0.01`, and a warning at start
naming the door). A colour calibration without one stops the door at start (ThresholdUnavailable naming the
door and camera, the calibration's points and how to give it one), as a match target the model cannot meet
does: each camera's worker fails alone, so the daemon's other doors run on.

Door calibration: `PadSettings.door_calibration` (`facegate pad calibrate-door`, from the door's own monitor
events) replaces the card's threshold for each colour it holds, for the deciding score it was measured on;
a colour it lacks keeps the card's (grey without either: the card's colour threshold, as above). It must
match the loaded PAD weights and the deciding score, else the gate refuses to start (ThresholdUnavailable
naming the door and camera: each camera's settings hold their own, of the door or of it alone). The
event's basis then says `door calibration`, its target, event count and dates.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Literal

from gate.decision import Verdict, Vote
from gate.errors import ThresholdUnavailable
from gate.pad_remedies import check_door_rule, no_threshold_message, pad_remedy
from gate.settings import DoorColourCalibration, PadSettings
from recognition import (
    FRAME_CUES,
    PASSIVE_FEATURE,
    TRACK_CUES,
    TRACK_RULE_BASIS,
    BgrImage,
    DetectedFace,
    MainThreshold,
    ModelLoadError,
    PadCalibration,
    PadScore,
    PadTrackRule,
    PresentationAttackDetector,
    main_attack_threshold,
    track_basis,
)
from storage import Decision

logger = logging.getLogger(__name__)

PRESENTATION_ATTACK = "presentation_attack"
PAD_FACE_TOO_CLOSE = "pad_face_too_close"
"""Denial reason: the face filled the frame in every frame PAD saw, so PAD could not judge the track (a
phone held close fills it too); the person is asked to step back and present again."""
TRACK_RULE_SHA256 = "track_rule_sha256"
"""The event cue naming the track rule that decided (`PadTrackRule.rule_sha256`), inside the MAC-covered cues;
absent when the passive mean decided, and in events recorded before it was recorded (rule unknown)."""
ScoreKind = Literal["passive", "track_rule"]


def deciding_score(settings: PadSettings, detector: PresentationAttackDetector | None) -> ScoreKind:
    """Which score decides at this door: the card's track rule when it has one and the door allows it."""
    has_rule = detector is not None and detector.track_rule is not None
    return "track_rule" if has_rule and settings.allow_track_rule else "passive"


def scope_label(door: str, camera: str | None, *, source: str | None = None) -> str:
    """'door front', or 'door front, camera side-cam': what a door's PAD settings or calibration belong to
    (the door's, or one camera's alone), as errors and reports name it; a camera without a name (the
    single-camera form, a replay) by its redacted `source`: 'door front, source rtsp://***@10.0.0.5/s1'."""
    if camera is not None:
        return f"door {door}, camera {camera}"
    return f"door {door}" if source is None else f"door {door}, source {source}"


@dataclass(frozen=True)
class PadEvidence:
    """What an audit event records about PAD (MAC-covered fields of the event)."""

    model_id: str
    weights_hash: str
    score: float | None
    threshold: float
    cues_json: str


@dataclass
class TrackPad:
    """One track's PAD evidence: the scores, frame cues and frames of its first frames."""

    scores: list[PadScore] = field(default_factory=list)
    frame_cues: list[dict[str, float]] = field(default_factory=list)
    frames: list[tuple[BgrImage, DetectedFace]] = field(default_factory=list)
    frames_too_close: int = 0

    @property
    def is_grey(self) -> bool:
        """Every PAD-scored frame was grey (a night/IR camera); False before any frame."""
        return bool(self.scores) and all(s.is_grayscale for s in self.scores)

    def mean(self) -> tuple[float | None, dict[str, float]]:
        """Mean attack score and mean of each net's output and frame cue (None, {} before any frame)."""
        if not self.scores:
            return None, {}
        per_frame = [{**s.cues, **c} for s, c in zip(self.scores, self.frame_cues, strict=True)]
        names = sorted({name for values in per_frame for name in values})
        cues = {name: sum(v.get(name, 0.0) for v in per_frame) / len(per_frame) for name in names}
        return sum(s.attack_score for s in self.scores) / len(self.scores), cues


class PadGate:
    """One door's PAD state: its policy, deciding rule, threshold and the evidence of each live track."""

    def __init__(
        self,
        settings: PadSettings,
        detector: PresentationAttackDetector | None,
        *,
        door: str,
        camera: str | None = None,
        source: str | None = None,
    ) -> None:
        """Raises ThresholdUnavailable: the policy needs PAD and no detector was built, the card's track
        rule names a cue this gate does not know, the colour calibration of the deciding score (the rule's
        or the card's) has no threshold at the door's BPCER target, or the
        door's own calibration was measured with other PAD weights or another deciding score. Each camera
        holds its own settings (a calibration of the door or of that camera alone); `camera` (its name in
        the gates file) names it in those errors, else its redacted `source` (`scope_label`)."""
        self.settings = settings
        self.detector = detector if settings.policy != "off" else None
        where = scope_label(door, camera, source=source)
        if settings.policy != "off" and detector is None:
            raise ThresholdUnavailable(
                f"{where}: PAD policy {settings.policy} needs the PAD model; none was loaded"
            )
        rule = None if self.detector is None else self.detector.track_rule
        self.rule = rule if settings.allow_track_rule else None
        needed = set(settings.cues) | set(self.rule.features if self.rule else ())
        unknown = needed - {PASSIVE_FEATURE, *FRAME_CUES, *TRACK_CUES}
        if unknown:
            raise ThresholdUnavailable(
                f"{where}: the PAD track rule needs unknown cues: {', '.join(sorted(unknown))}"
            )
        self.frame_cues = sorted(needed & FRAME_CUES.keys())
        self.track_cues = sorted(needed & TRACK_CUES.keys())
        self._check_door_calibration(where)
        self.threshold, self.basis = self._threshold(self.rule, is_grey=False, where=where)
        self.grey_threshold, self.grey_basis = self._threshold(self.rule, is_grey=True, where=where)
        self.tracks: dict[int, TrackPad] = {}

    def _check_door_calibration(self, where: str) -> None:
        """A door calibration holds only the weights and the deciding score it was measured with."""
        calibration = self.settings.door_calibration
        if calibration is None or self.detector is None:
            return
        if calibration.pad_weights_sha256 != self.detector.weights_sha256:
            raise ThresholdUnavailable(
                f"{where}: its PAD door_calibration was measured with PAD weights "
                f"{calibration.pad_weights_sha256[:12]}, the loaded PAD model's are "
                f"{self.detector.weights_sha256[:12]}; remove it, run the door in monitor and calibrate "
                "it again (`facegate pad calibrate-door`)"
            )
        score = deciding_score(self.settings, self.detector)
        if calibration.score != score:
            raise ThresholdUnavailable(
                f"{where}: its PAD door_calibration holds the {calibration.score} score, the door now "
                f"decides by the {score} score; calibrate it again from monitor events of this score"
            )
        if score == "track_rule" and self.rule is not None:
            check_door_rule(where, calibration.track_rule_sha256, rule_sha256=self.rule.rule_sha256)

    def _door_threshold(self, *, is_grey: bool) -> tuple[float, str] | None:
        """The door's own threshold and basis for this colour, or None when it has none."""
        calibration = self.settings.door_calibration
        entry: DoorColourCalibration | None = None
        if calibration is not None:
            entry = calibration.grey if is_grey else calibration.colour
        if calibration is None or entry is None:
            return None
        basis = (
            f"door calibration: BPCER {calibration.bpcer_target:g}, {entry.event_count} events "
            f"{entry.first_event_at:%Y-%m-%d}..{entry.last_event_at:%Y-%m-%d}"
        )
        basis = f"grey frames: {basis}" if is_grey else basis
        return entry.attack_threshold, f"{TRACK_RULE_BASIS}, {basis}" if self.rule is not None else basis

    def _threshold(self, rule: PadTrackRule | None, *, is_grey: bool, where: str) -> tuple[float, str]:
        """The threshold and basis for a track of colour frames or (`is_grey`) of grey frames only: the
        door's own calibration of that colour, else the card's (of the track rule when it decides): a grey
        track's by the grey calibration when it has a point at the door's target, else by the colour one or
        the grey calibration's nearest point, whichever is stricter (`main_attack_threshold`).

        Raises:
            ThresholdUnavailable: the calibration that holds these tracks has no point at or below the
                target (naming `where`, the calibration and how to give it one).
        """
        door_threshold = self._door_threshold(is_grey=is_grey)
        if door_threshold is not None:
            return door_threshold
        target = self.settings.bpcer_target
        colour, grey = self._card_calibrations(rule)
        try:
            main = main_attack_threshold(colour, grey, bpcer_target=target, is_grayscale=is_grey)
        except ModelLoadError as exc:
            raise ThresholdUnavailable(
                no_threshold_message(where, exc, is_rule=rule is not None, target=target)
            ) from exc
        if is_grey and grey is not None and not grey.has_point_at(target):
            _warn_grey_gap(where, grey, is_rule=rule is not None, main=main, target=target)
        elif is_grey and rule is not None and grey is None:
            logger.warning(
                "the PAD track rule %s has no grey calibration: grey tracks are held to its colour "
                "threshold %.6f, measured on colour tracks (grey live tracks score higher)",
                rule.rule_sha256[:12],
                main.attack_threshold,
            )
        basis = track_basis(
            main, grey, bpcer_target=target, is_grayscale=is_grey, is_track_rule=rule is not None
        )
        return main.attack_threshold, basis

    def _card_calibrations(
        self, rule: PadTrackRule | None
    ) -> tuple[PadCalibration | None, PadCalibration | None]:
        """The card's colour and grey calibrations of the deciding score: the track rule's, else the main."""
        if rule is not None:
            return rule.calibration, rule.grey_calibration
        if self.detector is None:
            return None, None
        return self.detector.calibration, self.detector.grey_calibration

    def observe(self, track_id: int, image: BgrImage, face: DetectedFace, vote: Vote) -> None:
        """Score this frame and its frame cues if the track still needs it (keeps the frame for the track
        cues); raises RecognitionError when PAD fails."""
        if self.detector is None or vote.person_id is None:
            return
        track = self.tracks.setdefault(track_id, TrackPad())
        if len(track.scores) >= self.settings.frames_required:
            logger.debug("track %d: %d PAD frames already; not scored", track_id, len(track.scores))
            return
        if self.detector.is_face_filling_frame(image, face):
            track.frames_too_close += 1
            logger.debug("track %d: the face fills the frame; PAD cannot judge this frame", track_id)
            return
        track.scores.append(self.detector.score(image, face))
        track.frames.append((image, face))
        track.frame_cues.append({name: FRAME_CUES[name](image, face) for name in self.frame_cues})

    def keep_only(self, live: set[int]) -> None:
        self.tracks = {track_id: t for track_id, t in self.tracks.items() if track_id in live}

    def _evidence(self, track: TrackPad) -> tuple[float | None, dict[str, float]]:
        """The deciding score (the rule's, else the passive mean) and every value to audit."""
        passive, cues = track.mean()
        for name in self.track_cues:
            value = TRACK_CUES[name](track.frames)
            if value is not None:
                cues[name] = value
        if passive is None:
            return None, cues
        cues[PASSIVE_FEATURE] = passive
        if self.rule is None:
            return passive, cues
        return self.rule.score(cues), cues

    def judge(self, track_id: int, verdict: Verdict) -> tuple[Verdict, PadEvidence | None]:
        """The verdict under the door's policy, and the evidence to audit (None when PAD is off)."""
        if self.detector is None:
            return verdict, None
        track = self.tracks.pop(track_id, TrackPad())
        score, cues = self._evidence(track)
        threshold, basis = (
            (self.grey_threshold, self.grey_basis) if track.is_grey else (self.threshold, self.basis)
        )
        is_attack = score is not None and score > threshold
        is_too_close = score is None and track.frames_too_close > 0
        detail = {
            "policy": self.settings.policy,
            "basis": basis,
            "colour": "grey" if track.is_grey else ("colour" if track.scores else "none"),
            "frames": len(track.scores),
            "frames_too_close": track.frames_too_close,
            "verdict": _verdict(score, is_attack=is_attack, is_too_close=is_too_close),
            **{name: round(value, 4) for name, value in cues.items()},
        }
        if self.rule is not None:
            detail[TRACK_RULE_SHA256] = self.rule.rule_sha256
        evidence = PadEvidence(
            model_id=self.detector.model_id,
            weights_hash=self.detector.weights_sha256,
            score=score,
            threshold=threshold,
            cues_json=json.dumps(detail, sort_keys=True, separators=(",", ":")),
        )
        if self.settings.policy != "enforce" or verdict.decision is not Decision.granted:
            return verdict, evidence
        if is_attack:
            logger.info("track %d: attack score %.3f > %.3f: denied", track_id, score, threshold)
            return replace(verdict, decision=Decision.denied, reason=PRESENTATION_ATTACK), evidence
        if is_too_close:
            logger.info("track %d: the face filled every PAD frame: denied (step back)", track_id)
            return replace(verdict, decision=Decision.denied, reason=PAD_FACE_TOO_CLOSE), evidence
        return verdict, evidence


def _warn_grey_gap(
    where: str, grey: PadCalibration, *, is_rule: bool, main: MainThreshold, target: float
) -> None:
    """Say at start what holds grey tracks when the grey calibration lacks the target (`main`): the colour
    threshold, or the grey calibration's nearest point where that is stricter; either refuses more grey live
    faces than the target."""
    threshold = main.attack_threshold
    held = (
        f"the grey {main.basis} ({threshold:.6f}: it refuses more grey live faces than the target)"
        if main.is_grey_calibrated
        else f"the colour threshold {threshold:.6f} (measured on colour data: it may refuse more grey live "
        "faces)"
    )
    logger.warning(
        "%s: %s grey calibration has no point at BPCER <= %g (calibrated: %s): grey tracks are held to "
        "%s; %s",
        where,
        "the PAD track rule's" if is_rule else "the PAD card's",
        target,
        ", ".join(f"{p.bpcer:g}" for p in grey.points),
        held,
        pad_remedy(is_rule=is_rule, is_grey=True, target=target),
    )


def _verdict(score: float | None, *, is_attack: bool, is_too_close: bool) -> str:
    """The would-be PAD verdict an event records."""
    if is_attack:
        return "attack"
    if score is not None:
        return "bona_fide"
    return "face_too_close" if is_too_close else "not_scored"
