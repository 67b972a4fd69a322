"""CameraProbe and GateMetrics on the real models: every stage is timed, frames and lag counted, ids only."""

from __future__ import annotations

from gate import (
    CameraProbe,
    CapturedFrame,
    DecisionMade,
    FrameSeen,
    GalleryChecked,
    GateMetrics,
    OutageSeen,
    SourceOutage,
    StageTimed,
    TelemetryEvent,
    fan_out,
)
from recognition import Recognizer
from tests.fakes import FakeClock, Placement, paste_frame


def _probe(events: list[TelemetryEvent], clock: FakeClock) -> CameraProbe:
    return CameraProbe(camera="front-cam", door="front", telemetry=events.append, clock=clock)


def test_timed_recognizer_reports_detect_and_embed_and_gives_the_same_embeddings(
    recognizer: Recognizer, group_faces: list[bytes]
) -> None:
    events: list[TelemetryEvent] = []
    timed = _probe(events, FakeClock()).recognizer(recognizer)
    frame = paste_frame([Placement(recognizer.decode(group_faces[0]), 30, 100)])

    observed = timed.observe(frame)
    plain = recognizer.observe(frame)

    assert len(observed) == len(plain) == 1
    assert observed[0].embedding.vector.tolist() == plain[0].embedding.vector.tolist()
    assert (timed.model_id, timed.cos_threshold) == (recognizer.model_id, recognizer.cos_threshold)
    assert [e.stage for e in events if isinstance(e, StageTimed)] == ["detect", "embed"]


def test_gallery_searches_are_timed_as_match(recognizer: Recognizer, group_faces: list[bytes]) -> None:
    events: list[TelemetryEvent] = []
    clock = FakeClock()
    [observation] = recognizer.observe(recognizer.decode(group_faces[1]))
    stored = observation.embedding.vector.astype("<f4").tobytes()
    gallery = _probe(events, clock).gallery(lambda: recognizer.new_gallery([("t1", 7, stored)]))

    matches = gallery().search(observation.embedding.vector, 1)

    assert [m.person_id for m in matches] == [7] and len(gallery()) == 1
    assert events == [GalleryChecked("front-cam", True), StageTimed("front-cam", "match", 0.0)]  # on change


def test_frames_are_counted_with_reader_lag_and_outages(recognizer: Recognizer) -> None:
    events: list[TelemetryEvent] = []
    clock = FakeClock(now_s=100.0)
    image = paste_frame([])
    items = [CapturedFrame(image, captured_at_s=99.75), SourceOutage("cam", 100.0, "ended"), image]

    passed = []
    for item in _probe(events, clock).frames(items):
        passed.append(item)
        clock.advance(0.5)

    assert passed == items
    assert events == [
        FrameSeen("front-cam", lag_s=0.25),
        StageTimed("front-cam", "frame", 0.5),
        OutageSeen("front-cam", "ended"),
        FrameSeen("front-cam", lag_s=None),
        StageTimed("front-cam", "frame", 0.5),
    ]


def test_exposition_has_every_instrument_by_camera_and_decision() -> None:
    metrics = GateMetrics()
    seen: list[TelemetryEvent] = []
    telemetry = fan_out(metrics, seen.append)
    telemetry(FrameSeen("a", lag_s=0.04))
    telemetry(FrameSeen("a", lag_s=None))
    telemetry(StageTimed("a", "detect", 0.02))
    telemetry(OutageSeen("a", "ended"))
    telemetry(DecisionMade("a", "front", 3, 1, "granted", "match", 7, 0.61, 0.36))
    telemetry(DecisionMade("a", "front", 9, 2, "denied", "unknown", None, None, 0.36))

    text = metrics.exposition().decode()

    assert len(seen) == 6
    assert 'facegate_frames_total{camera="a"} 2.0' in text
    assert 'facegate_reader_lag_seconds{camera="a"} 0.04' in text
    assert 'facegate_stage_seconds_count{camera="a",stage="detect"} 1.0' in text
    assert 'facegate_camera_outages_total{camera="a"} 1.0' in text
    assert 'facegate_decisions_total{camera="a",decision="granted",door="front",reason="match"} 1.0' in text
    assert 'facegate_decisions_total{camera="a",decision="denied",door="front",reason="unknown"} 1.0' in text
