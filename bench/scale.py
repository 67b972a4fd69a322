"""Galleries of 10k to 1M (10M on request) templates: index build, memory, latency, recall, FNIR/FPIR, sync.

Templates are synthetic but identity-clustered, fitted to SFace's genuine and impostor cosine
statistics on LFW measured with the project's own pipeline (bench/scale_data.py says how); two
templates per identity. For each size, width (128: SFace; 512) and index kind:

- build: templates added in batches through the FaceIndex (the FAISS factory index is trained on the
  way); RSS growth of the process; look-alike pairs: seconds per 10,000 templates (each template's
  k-NN search through the index, as the gallery does on every add);
- single-query search latency (FAISS at the gate's search_threads, 1) p50/p99 and batched throughput
  (every core);
- recall@1: share of probes whose best identity is the exact search's; FNIR and FPIR at the model's
  threshold and at the gate's FPIR door threshold for that gallery size, against exact search.

Then the gate's side at --sync-templates (SQLite, AES-GCM, GalleryCache with a background thread,
128-d with the real SFace model id): cold start, one enrollment reaching a running gate, and a 25 fps
loop's current()+search p99 when quiet, while the delta lands and during a full reload.

    nice -n 10 .venv/bin/python bench/scale.py            # --sizes 10000,100000,1000000 --dims 128,512
Progress goes to stderr; the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import faiss
import numpy as np

from bench.scale_data import Population, SyntheticFaces, pair_stats, population, sface_lfw_stats
from bench.scale_sync import measure_sync
from gate import GateSettings, door_operating_threshold
from recognition import (
    FaceIndex,
    FaissFactoryIndexConfig,
    FlatIndexConfig,
    IndexConfig,
    RecognitionSettings,
    Recognizer,
    build_index,
    build_recognizer,
    limit_search_threads,
)

ADD_ROWS = 65_536
LOOKALIKE_SAMPLE = 2_000
log = logging.getLogger("bench.scale")


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _top1(index: FaceIndex, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, persons = index.nearest_templates(probes, 1)
    return scores[:, 0], persons[:, 0]


def _decisions(scores: np.ndarray, persons: np.ndarray, pop: Population, threshold: float) -> np.ndarray:
    """Per probe: a mated probe's own identity accepted; a non-mated probe's anyone accepted."""
    mated = len(pop.mated)
    accepted = scores >= threshold
    return np.concatenate([accepted[:mated] & (persons[:mated] == pop.mated_ids), accepted[mated:]])


def _rates(scores: np.ndarray, persons: np.ndarray, pop: Population, threshold: float) -> dict[str, float]:
    mated = len(pop.mated)
    decided = _decisions(scores, persons, pop, threshold)
    return {
        "fnir": round(100 * float(1 - decided[:mated].mean()), 3),
        "fpir": round(100 * float(decided[mated:].mean()), 3),
    }


def _against_exact(
    scores: np.ndarray, persons: np.ndarray, pop: Population, exact: tuple[np.ndarray, np.ndarray]
) -> dict[str, float]:
    """Recall@1 against exact search: all probes, mated, non-mated, mated whose exact best is their own."""
    mated = len(pop.mated)
    same = persons == exact[1]
    own = exact[1][:mated] == pop.mated_ids
    return {
        "recall_at_1": round(float(same.mean()), 4),
        "recall_at_1_mated": round(float(same[:mated].mean()), 4),
        "recall_at_1_non_mated": round(float(same[mated:].mean()), 4),
        "recall_at_1_own_best": round(float(same[:mated][own].mean()), 4),
    }


def _changed_decisions(
    scores: np.ndarray,
    persons: np.ndarray,
    pop: Population,
    *,
    exact: tuple[np.ndarray, np.ndarray],
    threshold: float,
) -> dict[str, int]:
    """Probes whose decision differs from exact search's, mated and non-mated (FNIR/FPIR net them out)."""
    mated = len(pop.mated)
    changed = _decisions(scores, persons, pop, threshold) != _decisions(*exact, pop, threshold)
    return {"changed_mated": int(changed[:mated].sum()), "changed_non_mated": int(changed[mated:].sum())}


def measure_index(
    config: IndexConfig,
    pop: Population,
    *,
    exact: tuple[np.ndarray, np.ndarray],
    thresholds: dict[str, float],
    latency_queries: int,
) -> dict[str, Any]:
    dim = pop.gallery.shape[1]
    rss_before = _rss_mb()
    index = build_index(config, model_id="synthetic", dim=dim)
    started = time.perf_counter()
    for start in range(0, len(pop.gallery), ADD_ROWS):
        rows = slice(start, start + ADD_ROWS)
        keys = [str(row) for row in range(start, min(start + ADD_ROWS, len(pop.gallery)))]
        index.add_batch(keys, pop.gallery_ids[rows].tolist(), pop.gallery[rows])
    build_s = time.perf_counter() - started
    rss_mb = _rss_mb() - rss_before
    sample = pop.gallery[: min(LOOKALIKE_SAMPLE, len(pop.gallery))]
    started = time.perf_counter()
    index.nearest_templates(sample, 9)
    lookalike_s = (time.perf_counter() - started) * LOOKALIKE_SAMPLE / len(sample)
    probes = np.concatenate([pop.mated, pop.non_mated])
    limit_search_threads(GateSettings().search_threads)
    latencies, cpu_times = [], []
    # Mated and non-mated probes alike; CPU time (FAISS runs in this thread) is what a busy machine's
    # other processes do not inflate.
    for probe in probes[:: max(1, len(probes) // latency_queries)][:latency_queries]:
        started, cpu_started = time.perf_counter(), time.thread_time()
        index.search(probe, 2)
        latencies.append(time.perf_counter() - started)
        cpu_times.append(time.thread_time() - cpu_started)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    started = time.perf_counter()
    scores, persons = _top1(index, probes)
    batch_qps = len(probes) / (time.perf_counter() - started)
    result: dict[str, Any] = {
        "kind": config.kind,
        "factory": getattr(config, "factory", None),
        "search_params": getattr(config, "search_params", None),
        "rescore_templates": getattr(config, "rescore_templates", None),
        "build_s": round(build_s, 2),
        "rss_growth_mb": round(rss_mb),
        "lookalike_s_per_10k_templates": round(lookalike_s, 2),
        "search_p50_ms": round(1000 * statistics.median(latencies), 3),
        "search_p99_ms": round(1000 * float(np.percentile(latencies, 99)), 3),
        "search_cpu_p50_ms": round(1000 * statistics.median(cpu_times), 3),
        "batch_queries_per_s": round(batch_qps),
        **_against_exact(scores, persons, pop, exact),
    }
    for name, threshold in thresholds.items():
        result[f"at_{name}"] = {
            "threshold": round(threshold, 4),
            **_rates(scores, persons, pop, threshold),
            **_changed_decisions(scores, persons, pop, exact=exact, threshold=threshold),
        }
    del index
    return result


def run_size(
    args: argparse.Namespace, recognizer: Recognizer, faces: SyntheticFaces, size: int
) -> dict[str, Any]:
    log.info("%d templates, %d-d: generating", size, faces.dim)
    pop = population(faces, templates=size, per_identity=2, probes=args.probes, seed=args.seed + size)
    exact_index = build_index(FlatIndexConfig(), model_id="synthetic", dim=faces.dim)
    for start in range(0, size, ADD_ROWS):
        rows = slice(start, start + ADD_ROWS)
        keys = [str(row) for row in range(start, min(start + ADD_ROWS, size))]
        exact_index.add_batch(keys, pop.gallery_ids[rows].tolist(), pop.gallery[rows])
    exact = _top1(exact_index, np.concatenate([pop.mated, pop.non_mated]))
    del exact_index
    door = door_operating_threshold(
        recognizer, fpir_target=GateSettings().decision.fpir_target, gallery_size=size
    ).cos_threshold
    thresholds = {"model_threshold": recognizer.cos_threshold, "door_threshold": door}
    exact_rates = {name: _rates(*exact, pop, value) for name, value in thresholds.items()}
    kinds: list[IndexConfig] = [
        FaissFactoryIndexConfig(
            factory=args.factory,
            search_params=args.search_params,
            exact_max_templates=args.exact_max_templates,
            rescore_templates=args.rescore_templates,
            max_training_templates=args.max_training_templates,
        )
    ]
    if size <= args.flat_max_templates:
        kinds.insert(0, FlatIndexConfig())
    results = []
    for config in kinds:
        log.info("%d templates, %d-d: %s", size, faces.dim, config.kind)
        results.append(
            measure_index(
                config, pop, exact=exact, thresholds=thresholds, latency_queries=args.latency_queries
            )
        )
    return {"templates": size, "dim": faces.dim, "exact": exact_rates, "indexes": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="gallery sizes, comma-separated")
    parser.add_argument("--dims", default="128,512", help="template widths, comma-separated")
    parser.add_argument("--max-512-templates", type=int, default=1_000_000, help="largest 512-d gallery")
    parser.add_argument("--factory", default=FaissFactoryIndexConfig().factory)
    parser.add_argument("--search-params", default=FaissFactoryIndexConfig().search_params)
    parser.add_argument("--rescore-templates", type=int, default=FaissFactoryIndexConfig().rescore_templates)
    parser.add_argument(
        "--max-training-templates", type=int, default=FaissFactoryIndexConfig().max_training_templates
    )
    parser.add_argument(
        "--exact-max-templates",
        type=int,
        default=FaissFactoryIndexConfig().exact_max_templates,
        help="faiss_factory searches exactly below this",
    )
    parser.add_argument(
        "--flat-max-templates", type=int, default=1_000_000, help="largest gallery searched flat"
    )
    parser.add_argument("--probes", type=int, default=1000, help="mated and as many non-mated probes")
    parser.add_argument("--latency-queries", type=int, default=300)
    parser.add_argument("--lfw-photos", type=int, default=600, help="LFW photos SFace's statistics come from")
    parser.add_argument("--sync-templates", type=int, default=100_000, help="0: skip the gate's side")
    parser.add_argument("--sync-quiet-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        settings = RecognitionSettings()
        recognizer = build_recognizer(settings, cache_dir=work_dir)
        lfw = settings.data_dir / "faces" / "lfw" / "lfw-deepfunneled"
        target = sface_lfw_stats(recognizer, lfw, max_photos=args.lfw_photos)
        log.info("SFace on LFW: %s", target.as_dict())
        report: dict[str, Any] = {"sface_lfw": target.as_dict(), "cpus": os.cpu_count(), "runs": []}
        fitted: dict[int, SyntheticFaces] = {}
        for dim in (int(d) for d in args.dims.split(",")):
            fitted[dim] = SyntheticFaces.fit(target, dim=dim, seed=args.seed)
            check = population(fitted[dim], templates=3000, per_identity=2, probes=1, seed=args.seed)
            report[f"synthetic_{dim}d"] = pair_stats(check.gallery, check.gallery_ids).as_dict()
        for size in (int(s) for s in args.sizes.split(",")):
            for dim, faces in fitted.items():
                if dim == 512 and size > args.max_512_templates:
                    continue
                report["runs"].append(run_size(args, recognizer, faces, size))
                log.info("result: %s", json.dumps(report["runs"][-1]))
        if args.sync_templates:
            report["sync"] = _sync(
                args, recognizer, fitted.get(128) or SyntheticFaces.fit(target, dim=128, seed=1), work_dir
            )
    sys.stdout.write(json.dumps(report) + "\n")


def _sync(
    args: argparse.Namespace, recognizer: Recognizer, faces: SyntheticFaces, work_dir: Path
) -> dict[str, Any]:
    config = FaissFactoryIndexConfig(
        factory=args.factory, search_params=args.search_params, exact_max_templates=args.exact_max_templates
    )
    sync_recognizer = Recognizer(
        detector=recognizer.detector, embedder=recognizer.embedder, limits=recognizer.limits, index=config
    )
    pop = population(faces, templates=args.sync_templates, per_identity=2, probes=1, seed=args.seed)
    result = measure_sync(
        sync_recognizer,
        vectors=pop.gallery,
        newcomer=pop.non_mated[0],
        per_identity=2,
        database=work_dir / "scale.db",
        quiet_s=args.sync_quiet_s,
    )
    return {"index": config.model_dump(), **result}


if __name__ == "__main__":
    main()
