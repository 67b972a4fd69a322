"""Pure decision policy: a vote per fresh frame, k-of-n per track, a cooldown per person; no I/O (G2)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from recognition import DetectedFace, Match
from storage import Decision

MATCH = "match"
UNKNOWN = "unknown"
AMBIGUOUS = "ambiguous"
"""k votes whose best identity cleared the threshold but not the margin to the runner-up: deny."""
LOW_QUALITY = "low_quality"
"""k votes from faces below min_face_quality (too small or too uncertain to embed): deny."""
NOT_AUTHORISED = "not_authorised"
GALLERY_EMPTY = "gallery_empty"
UNKNOWN_MODEL = "unknown_model"
GALLERY_UNAVAILABLE = "gallery_unavailable"
UNKNOWN_DOOR = "unknown_door"
"""The gate's door is no door upstream (never registered, or its name given to no door): deny all."""
RECOGNITION_ERROR = "recognition_error"
CAMERA_UNAVAILABLE = "camera_unavailable"
DOOR_ERROR = "door_error"
"""A grant whose unlock never left the gate (broker or webhook unreachable, connection refused): denied."""
DOOR_UNCONFIRMED = "door_unconfirmed"
"""A grant whose unlock was sent but not confirmed in time (no PUBACK, a late or broken webhook answer): the
door may have opened, so the event stays granted with this reason instead of a denial."""

QUALITY_FACE_PX = 112
"""Faces at least this tall and wide (the embedder's input size) lose nothing to upscaling."""

_RULE_MAX_CHARS = 100


@dataclass(frozen=True)
class Vote:
    """One frame's evidence for a track.

    `person_id` is the identity the vote counts for: None for unknown (below the threshold), and for
    an abstention: AMBIGUOUS (above the threshold, too close to the runner-up identity) or LOW_QUALITY
    (a face not worth embedding).
    """

    person_id: int | None
    score: float | None
    """Best cosine of any enrolled person (-1..1); None when the face was not embedded."""
    margin_cos: float | None = None
    """Best minus the runner-up person's cosine; None when only one person is enrolled."""
    quality: float | None = None
    abstention: str | None = None

    @property
    def key(self) -> int | str:
        """What agreeing votes share: a person id, UNKNOWN, AMBIGUOUS or LOW_QUALITY."""
        if self.person_id is not None:
            return self.person_id
        return self.abstention or UNKNOWN


@dataclass(frozen=True)
class Verdict:
    """A decision about one track, with the means of the votes that reached it."""

    decision: Decision
    reason: str
    person_id: int | None
    score: float | None
    margin_cos: float | None = None
    quality: float | None = None


def face_quality(face: DetectedFace) -> float:
    """A cheap 0..1 quality: the detector's confidence, scaled down for faces under QUALITY_FACE_PX."""
    size_factor = min(1.0, min(face.width_px, face.height_px) / QUALITY_FACE_PX)
    return max(0.0, min(1.0, face.score)) * size_factor


def cast_vote(matches: list[Match], *, cos_threshold: float, min_margin_cos: float, quality: float) -> Vote:
    """The vote of one face from its two best candidates (best first), as `FaceIndex.search(v, 2)` gives."""
    if not matches:
        return Vote(person_id=None, score=-1.0, quality=quality)
    best = matches[0]
    margin = best.score - matches[1].score if len(matches) > 1 else None
    if best.score < cos_threshold:
        return Vote(person_id=None, score=best.score, margin_cos=margin, quality=quality)
    if margin is not None and margin < min_margin_cos:
        return Vote(
            person_id=None, score=best.score, margin_cos=margin, quality=quality, abstention=AMBIGUOUS
        )
    return Vote(person_id=best.person_id, score=best.score, margin_cos=margin, quality=quality)


def _mean(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) / len(known) if known else None


class TrackVotes:
    """The last n votes of one track; decides once k of them agree on one identity, unknown or ambiguous."""

    def __init__(self, *, votes_required: int, window_frames: int) -> None:
        self._votes_required = votes_required
        self._votes: deque[Vote] = deque(maxlen=window_frames)

    def add(self, vote: Vote) -> Verdict | None:
        """Add one vote; the verdict once k votes in the window agree, else None."""
        self._votes.append(vote)
        key, count = Counter(v.key for v in self._votes).most_common(1)[0]
        if count < self._votes_required:
            return None
        agreeing = [v for v in self._votes if v.key == key]
        score = _mean([v.score for v in agreeing])
        margin = _mean([v.margin_cos for v in agreeing])
        quality = _mean([v.quality for v in agreeing])
        if isinstance(key, int):
            return Verdict(Decision.granted, MATCH, key, score, margin, quality)
        return Verdict(Decision.denied, key, None, score, margin, quality)


class Cooldowns:
    """Per person at one door: after a decision, no second one until `cooldown_s` has passed."""

    def __init__(self, *, cooldown_s: float) -> None:
        self._cooldown_s = cooldown_s
        self._until_s: dict[int, float] = {}

    def is_cooling(self, person_id: int, now_s: float) -> bool:
        return now_s < self._until_s.get(person_id, float("-inf"))

    def start(self, person_id: int, now_s: float) -> None:
        self._until_s = {p: until for p, until in self._until_s.items() if until > now_s}
        self._until_s[person_id] = now_s + self._cooldown_s


class RateLimiter:
    """Lets one event per key through every `interval_s` (a dead database must not audit every frame)."""

    def __init__(self, *, interval_s: float) -> None:
        self._interval_s = interval_s
        self._last_s: dict[str, float] = {}

    def allow(self, key: str, now_s: float) -> bool:
        last_s = self._last_s.get(key)
        if last_s is not None and now_s - last_s < self._interval_s:
            return False
        self._last_s[key] = now_s
        return True


def describe_rule(
    *,
    votes_required: int,
    window_frames: int,
    cos_threshold: float,
    basis: str,
    min_margin_cos: float,
    confusable_margin_cos: float | None = None,
) -> str:
    """The audit's compact rule, e.g. '3/5 fresh frames, cos>=0.412 (FPIR 1e-2 @ N=120), margin>=0.05'.

    `confusable_margin_cos` is named only when the gallery holds look-alikes it applies to.
    """
    rule = (
        f"{votes_required}/{window_frames} fresh frames, cos>={cos_threshold:.3f} ({basis}), "
        f"margin>={min_margin_cos:.2f}"
    )
    if confusable_margin_cos is not None:
        rule += f" ({confusable_margin_cos:.2f} for look-alikes)"
    return rule[:_RULE_MAX_CHARS]
