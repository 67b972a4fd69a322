"""The pure decision policy: votes with margin, k-of-n per track, cooldown, error rate limit, rule text."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from gate import (
    AMBIGUOUS,
    LOW_QUALITY,
    UNKNOWN,
    Cooldowns,
    DecisionSettings,
    GateSettings,
    RateLimiter,
    TrackVotes,
    Vote,
    cast_vote,
    describe_rule,
    face_quality,
)
from recognition import DetectedFace, Match
from storage import Decision

A, B = 7, 9
THRESHOLD = 0.4


def _feed(votes: TrackVotes, sequence: list[Vote]):
    return [votes.add(vote) for vote in sequence]


def test_grants_after_k_agreeing_votes():
    votes = TrackVotes(votes_required=3, window_frames=5)
    verdicts = _feed(votes, [Vote(A, 0.6, 0.2, 0.9), Vote(None, 0.1), Vote(A, 0.7, 0.3, 0.8), Vote(A, 0.8)])
    assert verdicts[:3] == [None, None, None]
    final = verdicts[3]
    assert final is not None
    assert final.decision is Decision.granted and final.reason == "match"
    assert final.person_id == A
    assert final.score == pytest.approx((0.6 + 0.7 + 0.8) / 3)  # mean of the agreeing votes only
    assert final.margin_cos == pytest.approx(0.25)  # votes without a runner-up do not count
    assert final.quality == pytest.approx(0.85)


def test_denies_unknown_after_k_unknown_votes():
    votes = TrackVotes(votes_required=3, window_frames=5)
    verdicts = _feed(votes, [Vote(None, 0.2), Vote(A, 0.5), Vote(None, 0.1), Vote(None, 0.3)])
    assert verdicts[:3] == [None, None, None]
    final = verdicts[3]
    assert final is not None
    assert final.decision is Decision.denied and final.reason == UNKNOWN
    assert final.person_id is None
    assert final.score == pytest.approx(0.2)


def test_k_ambiguous_votes_deny_as_ambiguous_not_unknown():
    votes = TrackVotes(votes_required=2, window_frames=3)
    ambiguous = Vote(None, 0.6, 0.01, abstention=AMBIGUOUS)
    verdicts = _feed(votes, [ambiguous, Vote(None, 0.1), ambiguous])
    final = verdicts[2]
    assert verdicts[:2] == [None, None] and final is not None
    assert (final.decision, final.reason, final.person_id) == (Decision.denied, AMBIGUOUS, None)
    assert final.margin_cos == pytest.approx(0.01)


def test_k_low_quality_votes_deny_as_low_quality():
    votes = TrackVotes(votes_required=2, window_frames=3)
    blurry = Vote(None, None, quality=0.1, abstention=LOW_QUALITY)
    final = _feed(votes, [blurry, blurry])[1]
    assert final is not None
    assert (final.decision, final.reason, final.score, final.quality) == (
        Decision.denied,
        LOW_QUALITY,
        None,
        0.1,
    )


def test_no_decision_while_votes_are_split():
    votes = TrackVotes(votes_required=3, window_frames=5)
    verdicts = _feed(votes, [Vote(A, 0.6), Vote(B, 0.6), Vote(None, 0.1), Vote(A, 0.6), Vote(B, 0.6)])
    assert verdicts == [None] * 5


def test_window_slides_old_votes_out():
    votes = TrackVotes(votes_required=2, window_frames=3)
    # A's first vote has left the window when its second arrives: [B, None, A] has only one A.
    assert _feed(votes, [Vote(A, 0.6), Vote(B, 0.6), Vote(None, 0.1), Vote(A, 0.6)]) == [None] * 4
    verdict = votes.add(Vote(A, 0.8))  # window [None, A, A]
    assert verdict is not None and verdict.person_id == A
    assert verdict.score == pytest.approx(0.7)


def test_k_equals_one_decides_on_the_first_vote():
    verdict = TrackVotes(votes_required=1, window_frames=1).add(Vote(B, 0.5))
    assert verdict is not None and verdict.decision is Decision.granted and verdict.person_id == B


@pytest.mark.parametrize(
    ("matches", "expected_key", "expected_margin"),
    [
        pytest.param([Match(A, 0.60), Match(B, 0.20)], A, 0.40, id="clear-match"),
        pytest.param([Match(A, 0.60)], A, None, id="nobody-else-enrolled"),
        pytest.param([Match(A, 0.60), Match(B, 0.56)], AMBIGUOUS, 0.04, id="runner-up-too-close"),
        pytest.param([Match(A, 0.39), Match(B, 0.10)], UNKNOWN, 0.29, id="below-threshold"),
        pytest.param([Match(A, THRESHOLD), Match(B, 0.10)], A, 0.30, id="threshold-is-inclusive"),
        pytest.param([], UNKNOWN, None, id="empty-search"),
    ],
)
def test_cast_vote_needs_threshold_and_margin(matches, expected_key, expected_margin):
    vote = cast_vote(matches, cos_threshold=THRESHOLD, min_margin_cos=0.05, quality=0.7)
    assert vote.key == expected_key
    assert vote.quality == 0.7
    if expected_margin is None:
        assert vote.margin_cos is None
    else:
        assert vote.margin_cos == pytest.approx(expected_margin)


def test_a_margin_exactly_at_the_minimum_counts():
    # Binary-exact scores: 0.75 - 0.5 is exactly 0.25.
    matches = [Match(A, 0.75), Match(B, 0.5)]
    assert cast_vote(matches, cos_threshold=THRESHOLD, min_margin_cos=0.25, quality=1.0).key == A
    assert cast_vote(matches, cos_threshold=THRESHOLD, min_margin_cos=0.26, quality=1.0).key == AMBIGUOUS


def test_cooldown_is_per_person_and_expires():
    cooldowns = Cooldowns(cooldown_s=10.0)
    assert not cooldowns.is_cooling(A, 100.0)
    cooldowns.start(A, 100.0)
    assert cooldowns.is_cooling(A, 100.0) and cooldowns.is_cooling(A, 109.99)
    assert not cooldowns.is_cooling(B, 105.0)
    assert not cooldowns.is_cooling(A, 110.0)


def test_zero_cooldown_never_holds_anyone_back():
    cooldowns = Cooldowns(cooldown_s=0.0)
    cooldowns.start(A, 5.0)
    assert not cooldowns.is_cooling(A, 5.0)


def test_rate_limiter_lets_one_event_per_reason_and_interval_through():
    limiter = RateLimiter(interval_s=30.0)
    assert limiter.allow("gallery_unavailable", 0.0)
    assert not limiter.allow("gallery_unavailable", 29.9)
    assert limiter.allow("recognition_error", 29.9)
    assert limiter.allow("gallery_unavailable", 30.0)


def test_rule_text_names_k_n_threshold_basis_and_margin_and_fits_the_column():
    rule = describe_rule(
        votes_required=3,
        window_frames=5,
        cos_threshold=0.41234,
        basis="FPIR 1e-2 @ N=120",
        min_margin_cos=0.05,
    )
    assert rule == "3/5 fresh frames, cos>=0.412 (FPIR 1e-2 @ N=120), margin>=0.05"
    long_rule = describe_rule(
        votes_required=3, window_frames=5, cos_threshold=0.4, basis="x" * 200, min_margin_cos=0.05
    )
    assert len(long_rule) == 100


def _face(width_px: int, score: float) -> DetectedFace:
    return DetectedFace(
        bbox=(10, 10, 10 + width_px, 10 + width_px), landmarks=np.zeros((5, 2), np.float32), score=score
    )


def test_face_quality_is_the_detector_score_scaled_by_size():
    assert face_quality(_face(200, 0.9)) == pytest.approx(0.9)
    assert face_quality(_face(56, 0.9)) == pytest.approx(0.45)
    assert 0.0 <= face_quality(_face(1, 1.0)) <= 1.0


def test_decision_settings_reject_k_above_n_and_read_nested_env(monkeypatch):
    with pytest.raises(ValidationError, match="votes_required"):
        DecisionSettings(votes_required=4, vote_window_frames=3)
    monkeypatch.setenv("FACEGATE_GATE_DECISION__VOTES_REQUIRED", "2")
    monkeypatch.setenv("FACEGATE_GATE_DECISION__COOLDOWN_S", "0")
    settings = GateSettings()
    assert (settings.decision.votes_required, settings.decision.cooldown_s) == (2, 0.0)
    monkeypatch.setenv("FACEGATE_GATE_DECISION__MIN_MARGIN", "0.1")
    with pytest.raises(ValidationError, match="min_margin"):
        GateSettings()
