"""The gate's side of a large gallery: cold start, an enrollment reaching a running gate, and the frame
loop's latency while a reload runs, through storage (SQLite, AES-GCM) and GalleryCache.

Run by bench/scale.py (--sync-templates), or alone:

    nice -n 10 .venv/bin/python bench/scale_sync.py --templates 1000000 --db /tmp/scale-1m.db

The gallery is stored as bulk enrollment would (each template with its look-alike neighbours); with
--db the SQLite file is kept and a later run reuses it. Progress goes to stderr; the last stdout line
is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import numpy as np
import numpy.typing as npt
from sqlalchemy import text

from bench.scale_data import Population, ScoreStats, SyntheticFaces, population, sface_lfw_stats
from gate import GalleryCache, GateSettings
from recognition import (
    FaissFactoryIndexConfig,
    Gallery,
    RecognitionSettings,
    Recognizer,
    build_recognizer,
    limit_search_threads,
    vector_to_bytes,
)
from storage import (
    Engine,
    ErasedBy,
    Keyring,
    NewTemplate,
    bump_gallery_version,
    create_person,
    create_schema,
    delete_person,
    list_people,
    make_engine,
    session_scope,
    store_template,
    store_templates,
)

SFACE_LFW_AS_RECORDED = ScoreStats(
    genuine_mean=0.652,
    genuine_std=0.108,
    impostor_mean=0.088,
    impostor_std=0.088,
    genuine_pairs=626,
    impostor_pairs=179_074,
)
"""SFace on 609 LFW photos as bench/scale.py measured it (BENCHMARKS.md); used with --lfw-photos 0."""

FRAME_INTERVAL_S = 0.04  # a 25 fps camera
NEWCOMER = "new arrival"


def _p99_ms(samples: list[float]) -> float:
    return 1000 * float(np.percentile(samples, 99)) if samples else float("nan")


def store_gallery(
    engine: Engine,
    keyring: Keyring,
    recognizer: Recognizer,
    *,
    vectors: npt.NDArray[np.float32],
    per_identity: int,
) -> float:
    """Store the templates as bulk enrollment would: one person per identity, 10,000 per transaction.

    Each template is stored (`store_templates`) with its look-alike neighbours among those stored
    before it, found in an enrollment-side gallery 1,024 at a time (`Gallery.neighbour_records`).
    Returns the seconds taken.
    """
    started = time.perf_counter()
    recorder = recognizer.new_gallery()
    chunk, part = 10_000, 1024
    for start in range(0, len(vectors), chunk):
        rows = range(start, min(start + chunk, len(vectors)))
        with session_scope(engine) as session:
            owners = {
                row // per_identity: create_person(session, name=f"synthetic {row // per_identity}").id or 0
                for row in rows
                if row % per_identity == 0 or row == start
            }
            person_ids = [owners[row // per_identity] for row in rows]
            records: list[bytes] = []
            for offset in range(0, len(rows), part):
                block = slice(rows.start + offset, min(rows.start + offset + part, rows.stop))
                mine = person_ids[offset : offset + part]
                records += recorder.neighbour_records(mine, vectors[block])
                keys = [f"bench-{row}" for row in range(block.start, block.stop)]
                recorder.apply(
                    template_keys=keys, person_ids=mine, vectors=vectors[block], neighbours=records[offset:]
                )
            templates = [
                NewTemplate(person_id, vector_to_bytes(vectors[row]), "synthetic", lookalikes=record)
                for row, person_id, record in zip(rows, person_ids, records, strict=True)
            ]
            store_templates(session, keyring, model_id=recognizer.model_id, templates=templates)
            bump_gallery_version(session)
        logging.info(
            "stored %d of %d templates (%.0f s)", rows.stop, len(vectors), time.perf_counter() - started
        )
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
        limit_search_threads(GateSettings().search_threads)  # OpenMP settings are per thread, as in the gate
        while not self.stop.wait(FRAME_INTERVAL_S):
            started = time.perf_counter()
            matches = self.cache.current().search(self.probe, 2)
            self.durations.append((started, time.perf_counter() - started))
            self.best[0] = matches[0].person_id if matches else -1

    def between(self, start: float, end: float) -> list[float]:
        return [seconds for at, seconds in self.durations if start <= at <= end]


def _enroll_one(
    engine: Engine, keyring: Keyring, recorder: Gallery, *, model_id: str, vector: npt.NDArray[np.float32]
) -> int:
    with session_scope(engine) as session:
        person_id = create_person(session, name=NEWCOMER).id or 0
        (record,) = recorder.neighbour_records([person_id], vector[None, :])
        store_template(
            session,
            keyring,
            person_id=person_id,
            model_id=model_id,
            plaintext=vector_to_bytes(vector),
            source_name="new",
            lookalikes=record,
        )
        bump_gallery_version(session)
    return person_id


def stored_keyring(
    engine: Engine, database: Path, recognizer: Recognizer, **store: Any
) -> tuple[Keyring, float]:
    """The gallery's keyring; the gallery is stored first unless `database` already holds it (its key
    file beside it, a synthetic bench key only). Returns the keyring and the seconds storing took."""
    key_file = database.with_suffix(".key")
    if key_file.exists():
        keyring = Keyring([key_file.read_bytes()])
        erased_by = ErasedBy(keyring, "bench scale_sync", datetime.now(UTC))
        with session_scope(engine) as session:  # the newcomer of a run before: revoked
            for person in list_people(session, name_contains=NEWCOMER)[0]:
                delete_person(session, person.id, erased_by=erased_by)
        return keyring, 0.0
    create_schema(engine)
    key = secrets.token_bytes(32)
    keyring = Keyring([key])
    store_s = store_gallery(engine, keyring, recognizer, **store)
    key_file.write_bytes(key)
    return keyring, store_s


def synthetic_gallery(
    base: Recognizer, target: ScoreStats, *, templates: int, seed: int
) -> tuple[Population, Recognizer, FaissFactoryIndexConfig]:
    """Templates drawn two an identity with `target`'s score statistics, and `base`'s models over the
    default FAISS factory index that holds them (the gallery the gate and the API search at scale)."""
    faces = SyntheticFaces.fit(target, dim=128, seed=seed)
    pop = population(faces, templates=templates, per_identity=2, probes=1, seed=seed)
    config = FaissFactoryIndexConfig()
    recognizer = Recognizer(detector=base.detector, embedder=base.embedder, limits=base.limits, index=config)
    return pop, recognizer, config


def measure_sync(
    recognizer: Recognizer,
    *,
    vectors: npt.NDArray[np.float32],
    newcomer: npt.NDArray[np.float32],
    per_identity: int,
    database: Path,
    quiet_s: float,
) -> dict[str, Any]:
    """Cold start, enrollment-to-gate time and frame-loop p99 with and without reloads.

    The gallery is stored in the SQLite file `database` unless a run before left it there.
    """
    engine = make_engine(f"sqlite:///{database}")
    keyring, store_s = stored_keyring(
        engine, database, recognizer, vectors=vectors, per_identity=per_identity
    )
    settings = GateSettings()
    with ThreadPoolExecutor(  # as the gate's
        max_workers=1, initializer=limit_search_threads, initargs=(settings.reload_threads,)
    ) as background:
        cache = GalleryCache(
            engine=engine,
            keyring=keyring,
            recognizer=recognizer,
            poll_s=settings.gallery_poll_s,
            monotonic=time.monotonic,
            reload_in=background,
        )
        limit_search_threads(settings.search_threads)  # this thread plays the frame loop's, as in the gate
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        background.submit(cache.current).result()  # as the gate's start(): on the reload thread
        cold_start_s = time.perf_counter() - started
        logging.info("cold start: %.1f s (load average %.2f before)", cold_start_s, load_before)
        loop = FrameLoop(cache=cache, probe=newcomer)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        quiet_from = time.perf_counter()
        time.sleep(quiet_s)
        quiet = loop.between(quiet_from, time.perf_counter())
        enrolled_at = time.perf_counter()
        person_id = _enroll_one(
            engine, keyring, cache.current(), model_id=recognizer.model_id, vector=newcomer
        )
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
        after_quiet_from = time.perf_counter()
        time.sleep(quiet_s)
        after_quiet = loop.between(after_quiet_from, time.perf_counter())
        loop.stop.set()
        thread.join()
    engine.dispose()
    return {
        "templates": len(vectors),
        "store_s": round(store_s, 1),
        "cold_start_s": round(cold_start_s, 2),
        "load_average_before_cold_start": round(load_before, 2),
        "poll_s": settings.gallery_poll_s,
        "switch_interval_ms": round(1000 * sys.getswitchinterval(), 3),
        "enrollment_to_gate_s": round(reached_s, 2),
        "full_reload_in_background_s": round(full_reload_s, 2),
        "frame_p99_ms_quiet": round(_p99_ms(quiet), 3),
        "frame_p99_ms_quiet_after": round(_p99_ms(after_quiet), 3),
        "frame_p99_ms_during_delta": round(_p99_ms(during_delta), 3),
        "frame_p99_ms_during_full_reload": round(_p99_ms(during_full), 3),
        "frame_p50_ms_quiet": round(1000 * statistics.median(quiet), 3) if quiet else None,
        "frame_p50_ms_during_full_reload": round(1000 * statistics.median(during_full), 3)
        if during_full
        else None,
        "frames_quiet": len(quiet),
        "frames_during_full_reload": len(during_full),
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The gate's side of a large gallery (128-d SFace-like).")
    parser.add_argument("--templates", type=int, default=100_000, help="gallery size, two per identity")
    parser.add_argument("--quiet-s", type=float, default=10.0, help="frame loop without a reload, seconds")
    parser.add_argument("--db", type=Path, help="SQLite file to keep and reuse (default: a temporary one)")
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=GateSettings().gil_switch_interval_ms,
        help="sys.setswitchinterval, as the gate's gil_switch_interval_ms (Python's own: 5)",
    )
    parser.add_argument(
        "--lfw-photos", type=int, default=600, help="LFW photos to fit SFace's statistics (0: as recorded)"
    )
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    sys.setswitchinterval(args.switch_interval_ms / 1000)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        settings = RecognitionSettings()
        base = build_recognizer(settings, cache_dir=work_dir)
        lfw = settings.data_dir / "faces" / "lfw" / "lfw-deepfunneled"
        target = (
            sface_lfw_stats(base, lfw, max_photos=args.lfw_photos)
            if args.lfw_photos
            else SFACE_LFW_AS_RECORDED
        )
        pop, recognizer, config = synthetic_gallery(base, target, templates=args.templates, seed=args.seed)
        result = measure_sync(
            recognizer,
            vectors=pop.gallery,
            newcomer=pop.non_mated[0],
            per_identity=2,
            database=args.db or work_dir / "scale.db",
            quiet_s=args.quiet_s,
        )
    sys.stdout.write(
        json.dumps({"index": config.model_dump(), "sface_lfw": target.as_dict(), **result}) + "\n"
    )


if __name__ == "__main__":
    main()
