"""Failures that persist across frames or polls are logged at their start, as a count per interval, and at
their end (gate/failure_log.py): real models, real frames, a real gallery in SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from gate import CapturedFrame, GalleryCache
from recognition import RecognitionError, Recognizer
from storage import Decision, DecryptionError, Engine, StorageError, UnknownKeyId
from tests.fakes import FakeClock, Placement, build_frames
from tests.gate.test_worker import DOOR, SOURCE, GateRun, _audit_rows

POLL_S = 2.0
FAILING_FRAMES = 66  # 1 s apart: two error_audit_interval_s (30 s) and some
WHERE = f"door {DOOR}, source {SOURCE}: "


@pytest.fixture
def run(engine, keyring, recognizer) -> GateRun:
    return GateRun(engine=engine, keyring=keyring, recognizer=recognizer, clock=FakeClock(100.0))


@dataclass
class FailingDetector:
    """The real detector with a model fault while `is_broken`: its runtime fails, as OpenCV's or ONNX
    Runtime's failure reaches the gate once translated."""

    inner: object
    is_broken: bool = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def detect(self, image):
        if self.is_broken:
            raise RecognitionError("YuNet: OpenCV failed: (-215:Assertion failed) in function 'forward'")
        return self.inner.detect(image)


@dataclass
class ZeroingEmbedder:
    """The real embedder with a fault while `is_broken`: every vector it returns is zero (a corrupted model),
    which the pipeline refuses."""

    inner: object
    is_broken: bool = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def embed(self, aligned_face):
        vector = self.inner.embed(aligned_face)
        return vector * 0 if self.is_broken else vector


def _lines(caplog: pytest.LogCaptureFixture, logger: str, word: str) -> list[tuple[int, bool, str]]:
    """(level, has a traceback, message without the door prefix) of `logger`'s records naming `word`."""
    return [
        (r.levelno, r.exc_info is not None, r.getMessage().removeprefix(WHERE))
        for r in caplog.records
        if r.name == logger and word in r.getMessage()
    ]


@dataclass(frozen=True)
class ModelFault:
    """A model that fails for FAILING_FRAMES frames 1 s apart, then works, and the lines that says so."""

    stage: str
    first: str
    still: str
    ended: str
    audited_track_id: int | None

    def broken(self, recognizer: Recognizer) -> tuple[Recognizer, FailingDetector | ZeroingEmbedder]:
        """The real recognizer with this stage's model faulty, and the fault's switch."""
        limits = recognizer.limits
        if self.stage == "detection":
            detector = FailingDetector(recognizer.detector)
            return Recognizer(detector=detector, embedder=recognizer.embedder, limits=limits), detector
        embedder = ZeroingEmbedder(recognizer.embedder)
        return Recognizer(detector=recognizer.detector, embedder=embedder, limits=limits), embedder  # type: ignore[arg-type]


FAULTS = {
    "detector": ModelFault(  # every frame logged 'detection failed; frame skipped' with a traceback
        stage="detection",
        first="detection failed on frame 0 (RecognitionError: YuNet: OpenCV failed: (-215:Assertion failed)",
        still="detection still failing: 30 frames skipped in the last 30 s; door stays shut",
        ended="detection works again after 66.0 s (66 frames were skipped)",
        audited_track_id=None,
    ),
    "embedder": ModelFault(  # every face logged 'recognition failed; no vote' with a traceback
        stage="recognition",
        first="recognition failed on frame 0 track 1 (RecognitionError: sface",
        still="recognition still failing: 30 faces without a vote in the last 30 s; door stays shut",
        ended="recognition works again after 66.0 s (66 faces got no vote)",
        audited_track_id=1,
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_a_failing_model_is_logged_with_one_traceback_then_counted_per_interval_not_per_frame(
    fault: ModelFault, run: GateRun, engine: Engine, recognizer, group_faces, enroll_person, caplog
):
    """A camera at 15 fps with a broken detector or embedder wrote 15 tracebacks a second."""
    caplog.set_level(logging.INFO)
    alice_id = enroll_person("Alice", group_faces[0])
    broken, model = fault.broken(recognizer)
    alice = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=FAILING_FRAMES + 6)

    def frames() -> Iterator[object]:
        for index, frame in enumerate(alice):
            model.is_broken = index < FAILING_FRAMES
            yield frame
            run.clock.advance(1.0)

    decisions, _ = run(frames(), recognizer=broken)

    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice_id)]
    lines = _lines(caplog, "gate.worker", fault.stage)
    assert [(level, traced) for level, traced, _ in lines] == [
        (logging.ERROR, True),
        (logging.WARNING, False),
        (logging.WARNING, False),
        (logging.WARNING, False),
    ]
    first, *counts, ended = (message for _, _, message in lines)
    assert first.startswith(fault.first)
    assert counts == [fault.still] * 2
    assert ended == fault.ended
    assert sum(r.exc_info is not None for r in caplog.records) == 1
    # the audit's own rate limit is unchanged: one denial per error_audit_interval_s (at 0, 30 and 60 s)
    rows = [(r.reason, r.track_id) for r in _audit_rows(engine)]
    assert rows == [("recognition_error", fault.audited_track_id)] * 3 + [("match", 1)]


def _ciphertext(engine: Engine) -> bytes:
    with engine.connect() as connection:
        return connection.execute(text("SELECT ciphertext FROM face_template")).scalar_one()


def _update(engine: Engine, statement: str, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), values)


def test_a_failing_gallery_check_is_logged_by_its_cause_then_counted_per_interval_not_per_poll(
    engine: Engine, keyring, recognizer, group_faces, enroll_person, caplog
):
    """A template that cannot be decrypted failed every check (each poll_s) with an ERROR line."""
    caplog.set_level(logging.INFO)
    enroll_person("Alice", group_faces[0])
    ciphertext = _ciphertext(engine)
    _update(engine, "UPDATE face_template SET ciphertext = :c", c=bytes([ciphertext[0] ^ 1]) + ciphertext[1:])
    (master_key_id,) = keyring.key_ids
    clock = FakeClock()
    cache = GalleryCache(
        engine=engine, keyring=keyring, recognizer=recognizer, poll_s=POLL_S, monotonic=clock
    )

    for check in range(36):  # checks at 0, 2, ..., 70 s
        if check == 25:  # at 50 s Alice's data key names a master key the keyring lacks: another cause
            _update(engine, "UPDATE face_template SET ciphertext = :c", c=ciphertext)
            _update(engine, "UPDATE person_key SET master_key_id = :k", k="0" * 16)
        with pytest.raises(StorageError):
            cache.current()
        clock.advance(POLL_S)
    _update(engine, "UPDATE person_key SET master_key_id = :k", k=master_key_id)
    assert len(cache.current()) == 1

    lines = _lines(caplog, "gate.gallery", "gallery check")
    assert [(level, traced) for level, traced, _ in lines] == [
        (logging.ERROR, False),
        (logging.WARNING, False),
        (logging.ERROR, False),
        (logging.WARNING, False),
    ]
    first, still, changed, ended = (message for _, _, message in lines)
    assert first.startswith(f"gallery check failed ({DecryptionError.__name__}: authentication failed")
    assert first.endswith("every face is denied until a check succeeds")
    assert still == "gallery check still failing: 15 checks failed in the last 30 s"
    assert changed.startswith(
        f"{still}; now failing with {UnknownKeyId.__name__}: data was encrypted with key"
    )
    assert ended == "gallery check succeeded again after 72.0 s (36 checks failed)"


def test_frames_too_old_to_decide_on_are_logged_when_the_loop_falls_behind_then_counted_not_per_frame(
    run: GateRun, recognizer, group_faces, enroll_person, caplog
):
    """A loop behind its camera logged 'frame N of S: X s old; not decided on' for every frame it skipped
    (its processing rate: one line per frame for as long as it lagged)."""
    caplog.set_level(logging.INFO)
    alice_id = enroll_person("Alice", group_faces[0])
    alice = build_frames([Placement(recognizer.decode(group_faces[0]), 30, 100)], count=FAILING_FRAMES + 6)
    late_s = 1.5  # max_frame_age_s is 1 s

    def frames() -> Iterator[CapturedFrame]:
        for index, image in enumerate(alice):
            age_s = late_s if index < FAILING_FRAMES else 0.0
            yield CapturedFrame(image=image, captured_at_s=run.clock.now_s - age_s)
            run.clock.advance(1.0)

    decisions, _ = run(frames())

    assert [(d.verdict.decision, d.verdict.person_id) for d in decisions] == [(Decision.granted, alice_id)]
    lines = [
        (r.levelno, r.getMessage().removeprefix(WHERE))
        for r in caplog.records
        if r.name == "gate.worker" and ("old" in r.getMessage() or "fresh" in r.getMessage())
    ]
    assert lines == [
        (
            logging.WARNING,
            "frame 0 is 1.50 s old (limit 1.00 s); frames are not decided on until the loop keeps up",
        ),
        (logging.WARNING, "still behind: 30 frames too old in the last 30 s; door stays shut"),
        (logging.WARNING, "still behind: 30 frames too old in the last 30 s; door stays shut"),
        (logging.WARNING, "frames fresh again after 66.0 s (66 frames were not decided on)"),
    ]
