"""Presentation-attack decision per track: PAD scores collected over a track's frames, per-door policy.

`off` runs nothing. `monitor` scores and records the would-be verdict in every event, and never denies.
`enforce` turns a track whose mean attack score is above the door's threshold into a denial with reason
PRESENTATION_ATTACK. PAD scores only the frames a track needs: frames whose vote counts for an enrolled
person (an unknown face is denied anyway), up to `frames_required` per track. The threshold comes from the
PAD card's calibration at `bpcer_target`; an uncalibrated card falls back to the authors' rule (0.5) and
says so in the event.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace

from gate.decision import Verdict, Vote
from gate.errors import ThresholdUnavailable
from gate.settings import PadSettings
from recognition import (
    BgrImage,
    DetectedFace,
    ModelLoadError,
    PadScore,
    PresentationAttackDetector,
    operating_attack_threshold,
)
from storage import Decision

logger = logging.getLogger(__name__)

PRESENTATION_ATTACK = "presentation_attack"
_CUES_MAX_CHARS = 500


@dataclass(frozen=True)
class PadEvidence:
    """What an audit event records about PAD (MAC-covered fields of the event)."""

    model_id: str
    weights_hash: str
    score: float | None
    threshold: float
    cues_json: str


class TrackPad:
    """The PAD scores of one track's first frames."""

    def __init__(self) -> None:
        self.scores: list[PadScore] = []

    def mean(self) -> tuple[float | None, dict[str, float]]:
        """Mean attack score and mean of each cue over the scored frames (None before any)."""
        if not self.scores:
            return None, {}
        names = sorted({name for score in self.scores for name in score.cues})
        cues = {name: sum(s.cues.get(name, 0.0) for s in self.scores) / len(self.scores) for name in names}
        return sum(s.attack_score for s in self.scores) / len(self.scores), cues


class PadGate:
    """One door's PAD state: its policy, threshold and the evidence of each live track."""

    def __init__(self, settings: PadSettings, detector: PresentationAttackDetector | None) -> None:
        """Raises ThresholdUnavailable: the policy needs PAD and no detector was built."""
        self.settings = settings
        self.detector = detector if settings.policy != "off" else None
        if settings.policy != "off" and detector is None:
            raise ThresholdUnavailable(f"PAD policy {settings.policy} needs the PAD model; none was loaded")
        self.threshold, self.basis = self._threshold()
        self.tracks: dict[int, TrackPad] = {}

    def _threshold(self) -> tuple[float, str]:
        calibration = None if self.detector is None else self.detector.calibration
        try:
            return operating_attack_threshold(calibration, bpcer_target=self.settings.bpcer_target)
        except ModelLoadError as exc:
            raise ThresholdUnavailable(str(exc)) from exc

    def observe(self, track_id: int, image: BgrImage, face: DetectedFace, vote: Vote) -> None:
        """Score this frame if the track still needs it (raises RecognitionError when PAD fails)."""
        if self.detector is None or vote.person_id is None:
            return
        track = self.tracks.setdefault(track_id, TrackPad())
        if len(track.scores) >= self.settings.frames_required:
            logger.debug("track %d: %d PAD frames already; not scored", track_id, len(track.scores))
            return
        track.scores.append(self.detector.score(image, face))

    def keep_only(self, live: set[int]) -> None:
        self.tracks = {track_id: t for track_id, t in self.tracks.items() if track_id in live}

    def judge(self, track_id: int, verdict: Verdict) -> tuple[Verdict, PadEvidence | None]:
        """The verdict under the door's policy, and the evidence to audit (None when PAD is off)."""
        if self.detector is None:
            return verdict, None
        track = self.tracks.pop(track_id, TrackPad())
        score, cues = track.mean()
        is_attack = score is not None and score > self.threshold
        detail = {
            "policy": self.settings.policy,
            "basis": self.basis,
            "frames": len(track.scores),
            "verdict": "attack" if is_attack else ("bona_fide" if score is not None else "not_scored"),
            **{name: round(value, 4) for name, value in cues.items()},
        }
        evidence = PadEvidence(
            model_id=self.detector.model_id,
            weights_hash=self.detector.weights_sha256,
            score=score,
            threshold=self.threshold,
            cues_json=json.dumps(detail, sort_keys=True, separators=(",", ":"))[:_CUES_MAX_CHARS],
        )
        if is_attack and self.settings.policy == "enforce" and verdict.decision is Decision.granted:
            logger.info("track %d: attack score %.3f > %.3f: denied", track_id, score, self.threshold)
            return replace(verdict, decision=Decision.denied, reason=PRESENTATION_ATTACK), evidence
        return verdict, evidence
