"""CPU time of loading a stored gallery in full, per caller, on synthetic SFace-like templates
(bench/scale_data.py) in SQLite, stored as bulk enrollment would (AES-GCM, each template with its
look-alike record; bench/scale_sync.py):

- lookalikes: `facegate people confusable` at its default floor (stored_gallery: decrypt, search each);
- identify: /identify's function without the API's shared gallery (stored_gallery at the threshold);
- enroll: `facegate enroll`'s load before the gallery lock (GalleryService);
- decrypt: the storage half alone (iter_templates);
- erase: one person's erasure (delete_person), which opens every other stored look-alike record to null
  those naming them; each repeat erases the next person, so a kept --db loses them.

    nice -n 15 .venv/bin/python bench/stored_gallery.py --what lookalikes --db /tmp/gallery-20k.db

With --db the SQLite file (and its bench key beside it) is kept and reused. Each repeat loads the
gallery once and reports its CPU seconds (user + system of the process); --profile prints the top of
a cProfile of one more load to stderr. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import logging
import pstats
import resource
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from bench.scale_data import SyntheticFaces, population
from bench.scale_sync import SFACE_LFW_AS_RECORDED, stored_keyring
from enrollment import EnrollmentSettings, GalleryService, confusable_pairs, identify
from recognition import RecognitionSettings, Recognizer, build_recognizer
from storage import (
    Engine,
    ErasedBy,
    Keyring,
    delete_person,
    iter_templates,
    list_people,
    make_engine,
    session_scope,
)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load(engine: Engine, keyring: Keyring, recognizer: Recognizer, *, what: str, photo: bytes) -> float:
    """CPU seconds of one load of the stored gallery by `what`."""
    cpu = _cpu_s()
    with session_scope(engine) as session:
        if what == "identify":  # POST /identify's function without the API's shared gallery
            identify(session, keyring, recognizer, image_data=photo, fpir_target=None)
        elif what == "lookalikes":  # `facegate people confusable` at its default floor
            floor = recognizer.cos_threshold - EnrollmentSettings().confusable_margin_cos
            confusable_pairs(session, keyring, recognizer, min_score=floor)
        elif what == "decrypt":  # the storage half alone: read and decrypt every template
            for _ in iter_templates(session, keyring, model_id=recognizer.model_id):
                pass
        elif what == "erase":  # one erasure: the next person still enrolled
            (person, *_), _ = list_people(session, limit=1)
            erased_by = ErasedBy(keyring, "bench stored_gallery", datetime.now(UTC))
            delete_person(session, person.id, erased_by=erased_by)
        else:  # `facegate enroll`'s load before the lock
            GalleryService(keyring, recognizer).current(session)
    return _cpu_s() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU time of loading a stored gallery, per caller.")
    what = ["lookalikes", "identify", "enroll", "decrypt", "erase"]
    parser.add_argument("--what", choices=what, nargs="+", default=what[:1], help="which callers' loads")
    parser.add_argument("--templates", type=int, default=20_000, help="gallery size, two per identity")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--db", type=Path, help="SQLite file to keep and reuse (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=3, help="loads measured, one after another")
    parser.add_argument("--profile", action="store_true", help="cProfile one more load (stderr)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # on stderr: storing, loading
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        settings = RecognitionSettings()
        recognizer = build_recognizer(settings, cache_dir=work_dir)
        faces = SyntheticFaces.fit(SFACE_LFW_AS_RECORDED, dim=recognizer.embedder.dim, seed=args.seed)
        pop = population(faces, templates=args.templates, per_identity=2, probes=1, seed=args.seed)
        database = args.db or work_dir / "gallery.db"
        engine = make_engine(f"sqlite:///{database}")
        keyring, _ = stored_keyring(engine, database, recognizer, vectors=pop.gallery, per_identity=2)
        photo = next((settings.data_dir / "faces" / "lfw" / "lfw-deepfunneled").glob("*/*.jpg")).read_bytes()
        results = {}
        for caller in args.what:
            load = functools.partial(_load, engine, keyring, recognizer, what=caller, photo=photo)
            cpu = [load() for _ in range(args.repeats)]
            results[caller] = {
                "cpu_s": [round(value, 2) for value in cpu],
                "median": round(statistics.median(cpu), 2),
            }
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(load)
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
        engine.dispose()
    sys.stdout.write(json.dumps({"templates": args.templates, "cpu_s_per_load": results}) + "\n")


if __name__ == "__main__":
    main()
