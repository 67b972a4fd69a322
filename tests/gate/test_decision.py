"""TrackVotes: k-of-n voting with constructed votes."""

from __future__ import annotations

import pytest

from gate import TrackVotes, Vote
from storage import Decision

A, B = 7, 9


def _feed(votes: TrackVotes, sequence: list[Vote]):
    return [votes.add(vote) for vote in sequence]


def test_grants_after_k_agreeing_votes():
    votes = TrackVotes(votes_required=3, window_frames=5)
    verdicts = _feed(votes, [Vote(A, 0.6), Vote(None, 0.1), Vote(A, 0.7), Vote(A, 0.8)])
    assert verdicts[:3] == [None, None, None]
    final = verdicts[3]
    assert final is not None
    assert final.decision is Decision.granted and final.reason == "match"
    assert final.person_id == A
    assert final.score == pytest.approx((0.6 + 0.7 + 0.8) / 3)  # mean of the agreeing votes only


def test_denies_unknown_after_k_unknown_votes():
    votes = TrackVotes(votes_required=3, window_frames=5)
    verdicts = _feed(votes, [Vote(None, 0.2), Vote(A, 0.5), Vote(None, 0.1), Vote(None, 0.3)])
    assert verdicts[:3] == [None, None, None]
    final = verdicts[3]
    assert final is not None
    assert final.decision is Decision.denied and final.reason == "unknown"
    assert final.person_id is None
    assert final.score == pytest.approx(0.2)


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
