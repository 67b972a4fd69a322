"""IouTracker and iou(): known answers, and iou against a pixel-counting reference (K4)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from gate import TRACK_ID_EPOCH, IouTracker, first_track_id, iou

BOX = (100, 100, 200, 220)


def test_iou_known_values():
    assert iou(BOX, BOX) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0  # touching edges share no pixel
    assert iou((0, 0, 10, 10), (50, 50, 60, 60)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty boxes: no union, no overlap


def _pixel_iou(a, b, size: int) -> float:
    """Brute force: paint each box's pixels [x1, x2) × [y1, y2) and count."""
    mask_a = np.zeros((size, size), dtype=bool)
    mask_b = np.zeros((size, size), dtype=bool)
    mask_a[a[1] : a[3], a[0] : a[2]] = True
    mask_b[b[1] : b[3], b[0] : b[2]] = True
    union = int((mask_a | mask_b).sum())
    return int((mask_a & mask_b).sum()) / union if union else 0.0


def _random_box(rng: np.random.Generator, size: int) -> tuple[int, int, int, int]:
    x1, x2 = sorted(int(v) for v in rng.integers(0, size + 1, 2))
    y1, y2 = sorted(int(v) for v in rng.integers(0, size + 1, 2))
    return (x1, y1, x2, y2)


def test_iou_matches_pixel_count_on_random_boxes():
    rng = np.random.default_rng(20240607)
    size = 48
    for _ in range(500):
        a, b = _random_box(rng, size), _random_box(rng, size)
        expected = _pixel_iou(a, b, size)
        assert iou(a, b) == pytest.approx(expected, abs=1e-12), (a, b)
        assert iou(b, a) == pytest.approx(expected, abs=1e-12), (a, b)


def test_same_box_continues_its_track():
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2)
    assert tracker.update([BOX]) == [1]
    assert tracker.update([(104, 102, 204, 222)]) == [1]  # moved a little
    assert tracker.live_ids() == {1}


def test_far_box_starts_a_new_track():
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2)
    assert tracker.update([BOX]) == [1]
    assert tracker.update([(400, 100, 500, 220)]) == [2]
    assert tracker.live_ids() == {1, 2}


def test_two_faces_in_one_frame_keep_their_own_tracks():
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2)
    left, right = (10, 10, 110, 130), (300, 10, 400, 130)
    assert tracker.update([left, right]) == [1, 2]
    assert tracker.update([(302, 12, 402, 132), (12, 10, 112, 130)]) == [2, 1]  # order swapped
    assert tracker.update([left, left]) == [1, 3]  # a track is given to one box per frame


def test_track_expires_after_max_missed_frames():
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2)
    assert tracker.update([BOX]) == [1]
    assert tracker.update([]) == []
    assert tracker.update([]) == []
    assert tracker.live_ids() == {1}  # missed twice: still alive
    assert tracker.update([BOX]) == [1]  # comes back and continues
    for _ in range(3):
        tracker.update([])
    assert tracker.live_ids() == set()  # missed a third time: gone
    assert tracker.update([BOX]) == [2]


def test_overlap_below_threshold_is_a_new_track():
    tracker = IouTracker(iou_min=0.5, max_missed_frames=2)
    tracker.update([(0, 0, 100, 100)])
    assert iou((0, 0, 100, 100), (50, 0, 150, 100)) < 0.5
    assert tracker.update([(50, 0, 150, 100)]) == [2]


def test_end_all_ends_every_track_and_the_next_box_gets_the_next_id():
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2)
    assert tracker.update([BOX, (400, 100, 500, 220)]) == [1, 2]
    tracker.end_all()  # a camera outage
    assert tracker.live_ids() == set()
    assert tracker.update([BOX]) == [3]  # the same place, a new track: ids are never reused


def test_a_run_numbers_its_tracks_from_the_seconds_since_the_epoch_at_its_start():
    started = TRACK_ID_EPOCH + timedelta(days=340, seconds=7.9)
    first = first_track_id(started)
    assert first == 340 * 86400 + 7
    tracker = IouTracker(iou_min=0.3, max_missed_frames=2, first_id=first)
    assert tracker.update([BOX, (400, 100, 500, 220)]) == [first, first + 1]
    assert first_track_id(TRACK_ID_EPOCH - timedelta(days=1)) == 1  # a clock before the epoch: from 1
