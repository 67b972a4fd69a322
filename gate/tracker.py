"""Greedy IoU tracker: groups one person's faces across frames so they get one decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from recognition import BBox

TRACK_ID_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""A worker's first track id is the whole seconds from this instant to its start (int4 holds them to 2094)."""


def first_track_id(started_at: datetime) -> int:
    """The id of the first track of a gate run (a camera worker, a daemon, a replay) started at `started_at`.

    The whole seconds since TRACK_ID_EPOCH (at least 1): the run numbers its tracks on from there, so a
    restarted run's tracks never take an id an earlier run of the camera gave, as long as that run started
    fewer new tracks than seconds passed between the two starts (one a second, all its life) and the clock
    was not set back in between. The audit log keeps it in its int column (no migration), and an auditor
    reads a run's start off its first track's id: TRACK_ID_EPOCH plus that many seconds.
    """
    return max(1, int((started_at - TRACK_ID_EPOCH).total_seconds()))


def iou(a: BBox, b: BBox) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


@dataclass
class _Track:
    track_id: int
    bbox: BBox
    missed_frames: int = 0


class IouTracker:
    """Assigns each box the id of the best-overlapping live track, or a new id.

    Ids count up from `first_id` for the tracker's life and are never reused, also after `end_all`: the
    audit log names a track by its id, so two tracks of one camera must not share one (a gate run passes
    `first_track_id` of its start, so neither do two runs).
    """

    def __init__(self, *, iou_min: float, max_missed_frames: int, first_id: int = 1) -> None:
        self._iou_min = iou_min
        self._max_missed_frames = max_missed_frames
        self._tracks: list[_Track] = []
        self._next_id = first_id

    def update(self, boxes: list[BBox]) -> list[int]:
        """Track ids for this frame's boxes, in the same order."""
        free = list(self._tracks)
        ids = []
        for box in boxes:
            best = max(free, key=lambda track: iou(track.bbox, box), default=None)
            if best is not None and iou(best.bbox, box) >= self._iou_min:
                free.remove(best)
                best.bbox, best.missed_frames = box, 0
                ids.append(best.track_id)
                continue
            track = _Track(track_id=self._next_id, bbox=box)
            self._next_id += 1
            self._tracks.append(track)
            ids.append(track.track_id)
        for track in free:
            track.missed_frames += 1
        self._tracks = [track for track in self._tracks if track.missed_frames <= self._max_missed_frames]
        return ids

    def end_all(self) -> None:
        """End every live track (a camera outage): the next box starts a new track, with the next id."""
        self._tracks = []

    def live_ids(self) -> set[int]:
        return {track.track_id for track in self._tracks}
