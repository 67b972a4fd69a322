"""The gate's side of a large gallery (bench/scale.py): cold start, an enrollment reaching a running gate,
and the frame loop's latency while a reload runs, through storage (SQLite, AES-GCM) and GalleryCache.
"""

from __future__ import annotations

import logging
import secrets
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text

from gate import GalleryCache, GateSettings
from recognition import Recognizer, vector_to_bytes
from storage import (
    Engine,
    Keyring,
    NewTemplate,
    bump_gallery_version,
    create_person,
    create_schema,
    make_engine,
    session_scope,
    store_template,
    store_templates,
)

FRAME_INTERVAL_S = 0.04  # a 25 fps camera


def _p99_ms(samples: list[float]) -> float:
    return 1000 * float(np.percentile(samples, 99)) if samples else float("nan")


def store_gallery(
    engine: Engine, keyring: Keyring, *, model_id: str, vectors: npt.NDArray[np.float32], per_identity: int
) -> float:
    """Store the templates encrypted (`store_templates`), one person per identity, 10,000 per transaction.

    Returns the seconds taken.
    """
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, len(vectors), chunk):
        rows = range(start, min(start + chunk, len(vectors)))
        with session_scope(engine) as session:
            owners = {
                row // per_identity: create_person(session, name=f"synthetic {row // per_identity}").id or 0
                for row in rows
                if row % per_identity == 0 or row == start
            }
            templates = [
                NewTemplate(
                    person_id=owners[row // per_identity],
                    plaintext=vector_to_bytes(vectors[row]),
                    source_name="synthetic",
                )
                for row in rows
            ]
            store_templates(session, keyring, model_id=model_id, templates=templates)
            bump_gallery_version(session)
        logging.info("stored %d of %d templates", rows.stop, len(vectors))
    return time.perf_counter() - started


@dataclass
class FrameLoop:
    """A camera's gallery work at 25 fps: current() and a 2-best search, timed per frame."""

    cache: GalleryCache
    probe: npt.NDArray[np.float32]
    durations: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    best: list[int] = field(default_factory=lambda: [-1])

    def run(self) -> None:
        while not self.stop.wait(FRAME_INTERVAL_S):
            started = time.perf_counter()
            matches = self.cache.current().search(self.probe, 2)
            self.durations.append((started, time.perf_counter() - started))
            self.best[0] = matches[0].person_id if matches else -1

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for at, seconds in self.durations if start <= at <= end]


def _enroll_one(engine: Engine, keyring: Keyring, *, model_id: str, vector: npt.NDArray[np.float32]) -> int:
    with session_scope(engine) as session:
        person_id = create_person(session, name="new arrival").id or 0
        store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=model_id,
            plaintext=vector_to_bytes(vector),
            source_name="new",
        )
        bump_gallery_version(session)
    return person_id


def measure_sync(
    recognizer: Recognizer,
    *,
    vectors: npt.NDArray[np.float32],
    newcomer: npt.NDArray[np.float32],
    per_identity: int,
    work_dir: Path,
    quiet_s: float,
) -> dict[str, Any]:
    """Cold start, enrollment-to-gate time and frame-loop p99 with and without reloads."""
    engine = make_engine(f"sqlite:///{work_dir / 'scale.db'}")
    create_schema(engine)
    keyring = Keyring([secrets.token_bytes(32)])
    store_s = store_gallery(
        engine, keyring, model_id=recognizer.model_id, vectors=vectors, per_identity=per_identity
    )
    settings = GateSettings()
    with ThreadPoolExecutor(max_workers=1) as background:
        cache = GalleryCache(
            engine=engine,
            keyring=keyring,
            recognizer=recognizer,
            poll_s=settings.gallery_poll_s,
            monotonic=time.monotonic,
            reload_in=background,
        )
        started = time.perf_counter()
        cache.current()
        cold_start_s = time.perf_counter() - started
        loop = FrameLoop(cache=cache, probe=newcomer)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        quiet_from = time.perf_counter()
        time.sleep(quiet_s)
        quiet = loop.between(quiet_from, time.perf_counter())
        enrolled_at = time.perf_counter()
        person_id = _enroll_one(engine, keyring, model_id=recognizer.model_id, vector=newcomer)
        while loop.best[0] != person_id and time.perf_counter() - enrolled_at < 120:
            time.sleep(0.005)
        reached_s = time.perf_counter() - enrolled_at
        during_delta = loop.between(enrolled_at, time.perf_counter())
        reload_from = time.perf_counter()
        with engine.begin() as connection:  # no usable log (as after a restore): a full reload
            connection.execute(
                text("UPDATE gallery_version SET version = version + 1, changes_since = version + 1")
            )
        version = cache.version
        while cache.version == version and time.perf_counter() - reload_from < 1800:
            time.sleep(0.05)
        full_reload_s = time.perf_counter() - reload_from
        during_full = loop.between(reload_from, time.perf_counter())
        loop.stop.set()
        thread.join()
    engine.dispose()
    return {
        "templates": len(vectors),
        "store_s": round(store_s, 1),
        "cold_start_s": round(cold_start_s, 2),
        "poll_s": settings.gallery_poll_s,
        "enrollment_to_gate_s": round(reached_s, 2),
        "full_reload_in_background_s": round(full_reload_s, 2),
        "frame_p99_ms_quiet": round(_p99_ms(quiet), 3),
        "frame_p99_ms_during_delta": round(_p99_ms(during_delta), 3),
        "frame_p99_ms_during_full_reload": round(_p99_ms(during_full), 3),
        "frame_p50_ms_quiet": round(1000 * statistics.median(quiet), 3) if quiet else None,
        "frames_quiet": len(quiet),
        "frames_during_full_reload": len(during_full),
    }
