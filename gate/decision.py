"""k-of-n vote per track: a pure policy with no I/O."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from storage import Decision


@dataclass(frozen=True)
class Vote:
    """One frame's verdict for a track: the matched person (None = unknown) and the best score."""

    person_id: int | None
    score: float


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: str
    person_id: int | None
    score: float


class TrackVotes:
    """The last n votes of one track; decides once k of them agree on one identity (or on unknown)."""

    def __init__(self, *, votes_required: int, window_frames: int) -> None:
        self._votes_required = votes_required
        self._votes: deque[Vote] = deque(maxlen=window_frames)

    def add(self, vote: Vote) -> Verdict | None:
        self._votes.append(vote)
        counts = Counter(v.person_id for v in self._votes)
        identity, count = counts.most_common(1)[0]
        if count < self._votes_required:
            return None
        agreeing = [v.score for v in self._votes if v.person_id == identity]
        score = sum(agreeing) / len(agreeing)
        if identity is None:
            return Verdict(decision=Decision.denied, reason="unknown", person_id=None, score=score)
        return Verdict(decision=Decision.granted, reason="match", person_id=identity, score=score)
