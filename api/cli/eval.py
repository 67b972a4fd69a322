"""`facegate eval`: measure the configured detector and embedder on public benchmarks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.consoles import console, err_console
from api.cli.progress import progress_bars
from api.cli.roc_plot import write_roc_png
from api.cli.runtime import cli_errors, configure_logging
from recognition import (
    FALLBACK_DESCRIPTION,
    BundleEmbedderConfig,
    EmbeddedPhotos,
    EvaluationDataError,
    IdentificationSplit,
    PairList,
    RecognitionSettings,
    Recognizer,
    SearchScores,
    VerificationReport,
    build_recognizer,
    embed_photos,
    evaluate_identification,
    evaluate_verification,
    fnir_at,
    fpir_at,
    image_suffixes,
    pair_scores,
    parse_lfw_pairs,
    read_verification_bin,
    search_gallery,
    split_identification,
)
from storage import StorageSettings

eval_app = typer.Typer(help="Measure the configured recognizer on public benchmarks.", no_args_is_help=True)


@dataclass(frozen=True)
class PairSource:
    """Pairs to score and where their photos come from: LFW image files or a .bin's aligned crops."""

    name: str
    pairs: PairList
    root: Path | None = None
    crops: tuple[bytes, ...] = ()

    @property
    def is_aligned(self) -> bool:
        return self.root is None

    def photos(self, keys: list[str]) -> Iterator[tuple[str, bytes]]:
        for key in keys:
            yield key, (self.root / key).read_bytes() if self.root is not None else self.crops[int(key)]


def default_pairs_file(data: Path) -> Path:
    """`DIR/../pairs.txt` (the LFW download's layout) or `DIR/pairs.txt`, whichever exists."""
    for candidate in (data.parent / "pairs.txt", data / "pairs.txt"):
        if candidate.is_file():
            return candidate
    raise EvaluationDataError(f"no pairs.txt beside or inside {data}; give --pairs FILE")


def lfw_source(data: Path, pairs_file: Path | None) -> PairSource:
    """LFW images under `data` (`Name/Name_0001.jpg`) and View 2 pairs; every image must exist."""
    pairs_path = pairs_file or default_pairs_file(data)
    try:
        pairs = parse_lfw_pairs(pairs_path.read_text())
    except OSError as exc:
        raise EvaluationDataError(f"cannot read {pairs_path}: {exc}") from exc
    missing = [key for key in pairs.image_keys() if not (data / key).is_file()]
    if missing:
        raise EvaluationDataError(f"{len(missing)} pair images are missing under {data}, first {missing[0]}")
    return PairSource(name=f"LFW View 2 ({pairs_path.name})", pairs=pairs, root=data)


def bin_source(path: Path) -> PairSource:
    """An insightface verification .bin: aligned crops, embedded without detection."""
    verification = read_verification_bin(path)
    return PairSource(name=path.name, pairs=verification.pairs, crops=verification.images)


def pair_source(*, data: Path | None, bin_file: Path | None, pairs_file: Path | None) -> PairSource:
    """The .bin when one is given, otherwise the LFW images folder."""
    if bin_file is not None:
        return bin_source(bin_file)
    if data is None:
        raise EvaluationDataError("give --data DIR or --bin FILE")
    return lfw_source(data, pairs_file)


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model", help="Embed with this model bundle (`facegate models list`) instead of the configured one."
    ),
]


def build_eval_recognizer(model: str | None) -> tuple[RecognitionSettings, Recognizer]:
    """The configured recognizer, with the embedder replaced by bundle `model` when one is named."""
    settings = RecognitionSettings()
    if model is not None:
        settings = settings.model_copy(update={"embedder": BundleEmbedderConfig(name=model)})
    return settings, build_recognizer(settings, cache_dir=StorageSettings().home / "models")


def embed_with_progress(
    recognizer: Recognizer, photos: Iterator[tuple[str, bytes]], *, count: int, is_aligned: bool
) -> EmbeddedPhotos:
    """Embed each of `count` distinct photos once, with a progress bar (or lines) on stderr."""
    with progress_bars() as progress:
        task = progress.add_task("embedding", total=count)
        return embed_photos(
            recognizer,
            photos,
            is_aligned=is_aligned,
            clock=time.perf_counter,
            on_photo=lambda: progress.advance(task),
        )


def summary(
    report: VerificationReport, embedded: EmbeddedPhotos, *, detector: str, model: str
) -> dict[str, Any]:
    """The numbers `--json` prints; `detect_failures` counts photos aligned by the fallback."""
    point = report.at_far_1e3
    return {
        "accuracy": report.folds.mean,
        "accuracy_std": report.folds.std,
        "tar_at_far_1e-3": point.tar,
        "threshold_at_far_1e-3": point.threshold,
        "fold_thresholds": list(report.folds.thresholds),
        "pairs": report.pairs,
        "images": len(embedded.vectors),
        "detect_failures": len(embedded.detect_failures),
        "detect_failure_images": list(embedded.detect_failures),
        "fallback": FALLBACK_DESCRIPTION,
        "detector": detector,
        "model": model,
        "embed_ms_per_face": embedded.embed_ms_per_face,
    }


def print_summary(source: PairSource, result: dict[str, Any]) -> None:
    folds = len(result["fold_thresholds"])
    console.print(
        f"{source.name}: {result['pairs']} pairs in {folds} folds, {result['images']} images, "
        f"detector {result['detector']}, model {result['model']}",
        highlight=False,
    )
    console.print(
        f"accuracy {100 * result['accuracy']:.2f}% ± {100 * result['accuracy_std']:.2f} "
        f"(threshold chosen on {folds - 1} folds, tested on the remaining one)",
        highlight=False,
    )
    console.print(
        f"TAR {100 * result['tar_at_far_1e-3']:.2f}% at FAR 1e-3 "
        f"(cosine threshold {result['threshold_at_far_1e-3']:.4f})",
        highlight=False,
    )
    _print_detect_failures(result)
    console.print(
        f"embedding: {result['embed_ms_per_face']:.1f} ms per face (align + embed)", highlight=False
    )


def _print_detect_failures(result: dict[str, Any]) -> None:
    console.print(f"detect failures: {result['detect_failures']}", highlight=False)
    for key in result["detect_failure_images"]:
        console.print(f"  {key}: {result['fallback']}", markup=False, highlight=False)


@eval_app.command("lfw")
def lfw_command(
    data: Annotated[Path | None, typer.Option(help="LFW images root (Name/Name_0001.jpg).")] = None,
    bin_file: Annotated[
        Path | None, typer.Option("--bin", help="An insightface verification .bin instead of --data.")
    ] = None,
    pairs: Annotated[
        Path | None, typer.Option(help="View 2 pairs.txt; default DIR/../pairs.txt or DIR/pairs.txt.")
    ] = None,
    roc_png: Annotated[Path | None, typer.Option(help="Write the ROC curve to this PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of the results.")] = False,
    limit_pairs: Annotated[
        int | None, typer.Option(min=2, help="Only the first N/(2×folds) pairs of each kind per fold.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log each detection failure.")] = False,
    model: ModelOption = None,
) -> None:
    """LFW View 2 verification of the configured models: ten-fold accuracy, TAR at FAR 1e-3, ROC curve."""
    configure_logging(verbose=verbose)
    if (data is None) == (bin_file is None):
        err_console.print("error: give exactly one of --data DIR and --bin FILE")
        raise typer.Exit(2)
    with cli_errors():
        source = pair_source(data=data, bin_file=bin_file, pairs_file=pairs)
        chosen = source.pairs if limit_pairs is None else source.pairs.limited(limit_pairs)
        settings, recognizer = build_eval_recognizer(model)
        keys = chosen.image_keys()
        embedded = embed_with_progress(
            recognizer, source.photos(keys), count=len(keys), is_aligned=source.is_aligned
        )
        report = evaluate_verification(pair_scores(embedded, chosen), chosen.is_same, chosen.folds)
    result = summary(report, embedded, detector=settings.detector.kind, model=recognizer.model_id)
    print_summary(source, result)
    if roc_png is not None:
        _write_roc(report, roc_png, title=f"{source.name}: {recognizer.model_id}")
    if as_json:
        typer.echo(json.dumps(result))


def _write_roc(report: VerificationReport, path: Path, *, title: str) -> None:
    try:
        write_roc_png(report.roc, path, title=title, operating_point=report.at_far_1e3)
    except OSError as exc:
        err_console.print(f"error: cannot write {path}: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    console.print(f"ROC curve: {path}", markup=False, highlight=False)


def photos_by_person(data: Path) -> dict[str, list[str]]:
    """Image keys (`Name/Name_0001.jpg`) of every folder-per-person under `data`: its files of
    `recognition.image_suffixes()`, any case."""
    if not data.is_dir():
        raise EvaluationDataError(f"{data} is not a folder of per-person folders")
    return {
        person.name: [
            f"{person.name}/{photo.name}"
            for photo in person.iterdir()
            if photo.suffix.lower() in image_suffixes()
        ]
        for person in data.iterdir()
        if person.is_dir()
    }


def identify_summary(
    scores: SearchScores,
    split: IdentificationSplit,
    embedded: EmbeddedPhotos,
    *,
    model: str,
    model_threshold: float,
) -> dict[str, Any]:
    """The numbers `eval identify --json` prints.

    FNIR at FPIR targets (cosine thresholds chosen on the non-mated searches), and FPIR and FNIR at the
    model's own 1:1 threshold, the one the gate uses.
    """
    report = evaluate_identification(scores.mate_rank1, scores.nonmated_top)
    return {
        "fnir_at_fpir_1e-2": report.at_fpir_1e2.fnir,
        "fnir_at_fpir_1e-3": report.at_fpir_1e3.fnir,
        "threshold_at_fpir_1e-2": report.at_fpir_1e2.threshold,
        "threshold_at_fpir_1e-3": report.at_fpir_1e3.threshold,
        "fpir_at_threshold_1e-2": report.at_fpir_1e2.fpir,
        "fpir_at_threshold_1e-3": report.at_fpir_1e3.fpir,
        "rank1": report.rank1,
        "model_threshold": model_threshold,
        "fpir_at_model_threshold": fpir_at(scores.nonmated_top, model_threshold),
        "fnir_at_model_threshold": fnir_at(scores.mate_rank1, model_threshold),
        "gallery_identities": len(split.identities),
        "gallery_templates": len(split.gallery),
        "mated_searches": report.mated_searches,
        "nonmated_searches": report.nonmated_searches,
        "detect_failures": len(embedded.detect_failures),
        "detect_failure_images": list(embedded.detect_failures),
        "fallback": FALLBACK_DESCRIPTION,
        "model": model,
    }


def print_identify_summary(result: dict[str, Any]) -> None:
    console.print(
        f"gallery: {result['gallery_identities']} identities ({result['gallery_templates']} templates); "
        f"{result['mated_searches']} mated and {result['nonmated_searches']} non-mated searches, "
        f"model {result['model']}",
        highlight=False,
    )
    console.print(f"rank-1 identification rate {100 * result['rank1']:.2f}% (no threshold)", highlight=False)
    for target in ("1e-2", "1e-3"):
        console.print(
            f"FNIR {100 * result[f'fnir_at_fpir_{target}']:.2f}% at FPIR {target} "
            f"(cosine threshold {result[f'threshold_at_fpir_{target}']:.4f}, "
            f"measured FPIR {result[f'fpir_at_threshold_{target}']:.4f})",
            highlight=False,
        )
    console.print(
        f"at the model's own threshold (cosine {result['model_threshold']:.4f}): "
        f"FPIR {result['fpir_at_model_threshold']:.4f}, FNIR {100 * result['fnir_at_model_threshold']:.2f}%",
        highlight=False,
    )
    _print_detect_failures(result)


@eval_app.command("identify")
def identify_command(
    data: Annotated[Path, typer.Option(help="Images root, one folder per person (LFW: lfw-deepfunneled).")],
    min_photos: Annotated[int, typer.Option(min=2, help="Enroll the people with at least N photos.")] = 4,
    enroll_photos: Annotated[
        int, typer.Option(min=1, help="Enroll each person's first K photos; the rest are mated probes.")
    ] = 2,
    limit_people: Annotated[
        int | None, typer.Option(min=1, help="Only the first N enrolled and N single-photo people.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line of the results.")] = False,
    verbose: Annotated[bool, typer.Option(help="Log each detection failure.")] = False,
    model: ModelOption = None,
) -> None:
    """Open-set 1:N identification (NIST FRVT terms): FNIR at FPIR 1e-2 and 1e-3, rank-1 rate."""
    configure_logging(verbose=verbose)
    with cli_errors():
        split = split_identification(
            photos_by_person(data),
            min_photos=min_photos,
            enroll_photos=enroll_photos,
            limit_people=limit_people,
        )
        _, recognizer = build_eval_recognizer(model)
        keys = split.image_keys()
        photos = ((key, (data / key).read_bytes()) for key in keys)
        embedded = embed_with_progress(recognizer, photos, count=len(keys), is_aligned=False)
        scores = search_gallery(recognizer, embedded, split)
        result = identify_summary(
            scores, split, embedded, model=recognizer.model_id, model_threshold=recognizer.cos_threshold
        )
    print_identify_summary(result)
    if as_json:
        typer.echo(json.dumps(result))
