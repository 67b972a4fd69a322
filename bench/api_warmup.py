"""The API's shared gallery on a large stored gallery: a started server's warm-up (time to its first 200
on /identify, and the 503s before it; to its first 200 on /readyz) and the process's memory while a full
reload builds the next gallery beside the one it keeps until the swap, through storage (SQLite, AES-GCM)
and the real app.

    nice -n 10 .venv/bin/python bench/api_warmup.py --templates 100000 --db /tmp/scale-100k.db

The gallery is stored as bench/scale_sync.py stores it (and a --db file it left is reused). The app
runs in this process under FastAPI's TestClient (its lifespan starts the load); a client polls
/identify with a real photo every --poll-s, another polls /readyz every 50 ms. Progress goes to
stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from fastapi.testclient import TestClient
from sqlalchemy import text

from api import ApiSettings, AppServices, create_app
from bench.scale_sync import SFACE_LFW_AS_RECORDED, stored_keyring, synthetic_gallery
from enrollment import EnrollmentSettings
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import Role, bind_device_doors, create_api_key, make_engine, session_scope

PROBE = "faces/face-recognition-examples/examples/knn_examples/test/obama1.jpg"


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class RssSampler:
    """The process's resident memory every `every_s`, in a thread of its own."""

    every_s: float = 0.05
    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            self.samples.append((time.perf_counter(), _rss_mb()))

    def peak_mb(self, start: float, end: float) -> float:
        return max((mb for at, mb in self.samples if start <= at <= end), default=_rss_mb())


@dataclass
class ReadyWatch:
    """/readyz every `every_s` in a thread of its own until `stop` (the same load on every version of
    the server, whenever its /readyz says ready): seconds from `started` to its first 200."""

    client: TestClient
    started: float
    every_s: float = 0.05
    ready_s: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            if self.client.get("/readyz").status_code == 200 and self.ready_s is None:
                self.ready_s = time.perf_counter() - self.started


@dataclass
class Poll:
    """/identify until it answers 200: seconds taken and the answers before it."""

    seconds: float
    refused: dict[int, int]


def _poll_until_200(client: TestClient, token: str, photo: bytes, *, every_s: float) -> Poll:
    started, refused = time.perf_counter(), dict[int, int]()
    while True:
        files = {"photo": ("probe.jpg", photo, "image/jpeg")}
        answer = client.post("/identify", files=files, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code == 200:
            return Poll(time.perf_counter() - started, refused)
        refused[answer.status_code] = refused.get(answer.status_code, 0) + 1
        if time.perf_counter() - started > 1800:
            raise RuntimeError(f"no 200 within 30 minutes: {answer.status_code} {answer.text}")
        time.sleep(every_s)


def measure(
    recognizer: Recognizer, *, database: Path, photo: bytes, poll_s: float, **store: Any
) -> dict[str, Any]:
    """Warm-up from the app's start, then a full reload (the change log reset, as after a restore)."""
    engine = make_engine(f"sqlite:///{database}")
    keyring, store_s = stored_keyring(engine, database, recognizer, **store)
    with session_scope(engine) as session:
        token, key = create_api_key(session, role=Role.device, label="bench", now=datetime.now(UTC))
        bind_device_doors(session, key_id=key.token_id, doors=["bench door"], create_doors=True)
    services = AppServices(
        engine=engine, keyring=keyring, recognizer=recognizer, enrollment=EnrollmentSettings()
    )
    sampler = RssSampler()
    sampling = threading.Thread(target=sampler.run, daemon=True)
    gc.collect()
    rss_before_mb = _rss_mb()
    sampling.start()
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with TestClient(create_app(services, settings=ApiSettings())) as client:
        ready = ReadyWatch(client, time.perf_counter())
        watching = threading.Thread(target=ready.run, daemon=True)
        watching.start()
        warm = _poll_until_200(client, token, photo, every_s=poll_s)
        ready.stop.set()
        watching.join()
        warm_end = time.perf_counter()
        logging.info("first 200 after %.1f s (%s refused before)", warm.seconds, warm.refused)
        gc.collect()
        rss_one_mb = _rss_mb()
        with engine.begin() as connection:  # no usable log (as after a restore): a full reload
            connection.execute(
                text("UPDATE gallery_version SET version = version + 1, changes_since = version + 1")
            )
        reload_from = time.perf_counter()
        reload = _poll_until_200(client, token, photo, every_s=poll_s)
        reload_end = time.perf_counter()
        logging.info("reloaded: 200 again after %.1f s (%s refused before)", reload.seconds, reload.refused)
        gc.collect()
        rss_after_mb = _rss_mb()
    sampler.stop.set()
    sampling.join()
    engine.dispose()
    return {
        "templates": store["vectors"].shape[0],
        "store_s": round(store_s, 1),
        "load_average_before_start": round(load_before, 2),
        "first_200_after_start_s": round(warm.seconds, 2),
        "readyz_200_after_start_s": None if ready.ready_s is None else round(ready.ready_s, 2),
        "refused_before_first_200": warm.refused,
        "full_reload_s": round(reload.seconds, 2),
        "refused_during_reload": reload.refused,
        "rss_mb_before_start": round(rss_before_mb, 1),
        "rss_mb_peak_during_warm_up": round(sampler.peak_mb(started, warm_end), 1),
        "rss_mb_one_gallery": round(rss_one_mb, 1),
        "rss_mb_peak_during_reload": round(sampler.peak_mb(reload_from, reload_end), 1),
        "rss_mb_after_reload": round(rss_after_mb, 1),
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="The API's gallery warm-up and reload memory (128-d).")
    parser.add_argument("--templates", type=int, default=100_000, help="gallery size, two per identity")
    parser.add_argument("--db", type=Path, help="SQLite file to keep and reuse (default: a temporary one)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="between two /identify polls")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        settings = RecognitionSettings()
        base = build_recognizer(settings, cache_dir=work_dir)
        pop, recognizer, config = synthetic_gallery(
            base, SFACE_LFW_AS_RECORDED, templates=args.templates, seed=args.seed
        )
        result = measure(
            recognizer,
            database=args.db or work_dir / "scale.db",
            photo=(settings.data_dir / PROBE).read_bytes(),
            poll_s=args.poll_s,
            vectors=pop.gallery,
            per_identity=2,
        )
    sys.stdout.write(json.dumps({"index": config.model_dump(), **result}) + "\n")


if __name__ == "__main__":
    main()
