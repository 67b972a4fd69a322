"""`facegate models`: which embedding models are installed and active, and their FAR calibration."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from api.cli.consoles import console
from api.cli.eval import build_eval_recognizer, embed_with_progress, photos_by_person
from api.cli.one_line import print_error_line
from api.cli.runtime import cli_errors, configure_logging
from recognition import (
    CALIBRATED_FARS,
    Calibration,
    EvaluationDataError,
    LocatedBundle,
    ModelBundle,
    ModelLoadError,
    RecognitionSettings,
    active_bundle_name,
    all_pair_scores,
    bundle_search,
    calibrate,
    calibration_shortfall,
    description_path_for_changes,
    find_bundle,
    locate_weights,
    scan_bundles,
    write_bundle_file,
)

models_app = typer.Typer(
    help="List the embedding model bundles and calibrate their thresholds.", no_args_is_help=True
)


def thresholds_at_targets(calibration: Calibration | None) -> dict[str, float | None]:
    """Cosine threshold at each calibrated FAR target; None where the calibration cannot measure it."""
    return {
        f"{far:.0e}": (
            calibration.threshold_at(far)
            if calibration is not None and far >= calibration.min_measurable_far
            else None
        )
        for far in CALIBRATED_FARS
    }


def describe(located: LocatedBundle, settings: RecognitionSettings) -> dict[str, Any]:
    """One row of `models list`: installed means the weights were found and their sha256 matches."""
    bundle = located.bundle
    try:
        weights: str = str(locate_weights(located, bundle_search(settings)))
        problem = None
    except ModelLoadError as exc:
        weights, problem = "", str(exc)
    return {
        "name": bundle.name,
        "version": bundle.version,
        "model_id": bundle.model_id,
        "runtime": bundle.runtime,
        "embedding_dim": bundle.embedding_dim,
        "licence": bundle.licence,
        "is_installed": problem is None,
        "weights": weights,
        "problem": problem,
        "is_active": bundle.name == active_bundle_name(settings),
        "default_cos_threshold": bundle.default_cos_threshold,
        "thresholds_at_far": thresholds_at_targets(bundle.calibration),
        "calibrated_on": bundle.calibration.dataset if bundle.calibration else None,
        "description": str(located.path),
    }


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        thresholds = ", ".join(
            f"{far} {t:.4f}" if t is not None else f"{far} -" for far, t in row["thresholds_at_far"].items()
        )
        lines = [
            f"{row['name']} {row['version']}{'  (active)' if row['is_active'] else ''}",
            f"  runtime {row['runtime']}, {row['embedding_dim']}-d, licence {row['licence']}",
            f"  installed: {'yes, ' + row['weights'] if row['is_installed'] else 'no: ' + row['problem']}",
            f"  cosine threshold at FAR {thresholds}; default {row['default_cos_threshold']:.4f}",
            f"  calibrated on: {row['calibrated_on'] or 'not calibrated'}",
        ]
        console.print("\n".join(lines), markup=False, highlight=False)


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as one JSON list.")] = False,
) -> None:
    """Every model bundle: installed (weights found, sha256 ok), active, thresholds at FAR 1e-2/1e-3/1e-4.

    An invalid description is named on stderr after the valid bundles, and the command then exits 1.
    """
    with cli_errors():
        settings = RecognitionSettings()
        scan = scan_bundles(bundle_search(settings))
        rows = [describe(located, settings) for located in scan.bundles]
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        _print_rows(rows)
    for invalid in scan.invalid:
        typer.echo(f"invalid bundle description, skipped: {invalid.problem}", err=True)
    if scan.invalid:
        raise typer.Exit(1)


def calibration_photos(data: Path, *, max_photos: int | None) -> list[tuple[str, str]]:
    """(image key, person) of whole people in name order, until `max_photos` photos are taken."""
    chosen: list[tuple[str, str]] = []
    for person, keys in sorted(photos_by_person(data).items()):
        if max_photos is not None and len(chosen) + len(keys) > max_photos:
            break
        chosen.extend((key, person) for key in sorted(keys))
    if len(chosen) < 3:
        raise EvaluationDataError(f"{data}: too few photos to calibrate ({len(chosen)})")
    return chosen


def refuse_too_few_pairs(data: Path, chosen: list[tuple[str, str]]) -> None:
    """Refuse photos whose pairs cannot give a calibration curve, before any is embedded.

    Raises:
        EvaluationDataError: too few genuine or impostor pairs (`calibration_shortfall`).
    """
    per_person = Counter(person for _, person in chosen)
    genuine = sum(count * (count - 1) // 2 for count in per_person.values())
    impostor = len(chosen) * (len(chosen) - 1) // 2 - genuine
    shortfall = calibration_shortfall(genuine_pairs=genuine, impostor_pairs=impostor)
    if shortfall is not None:
        people = f"{len(per_person)} {'person' if len(per_person) == 1 else 'people'}"
        raise EvaluationDataError(
            f"{data}: {len(chosen)} photos of {people}: {shortfall}; the bundle was not changed"
        )


def _write_calibrated(bundle: ModelBundle, path: Path) -> Path:
    """Write the calibrated description (its folder made if new); an OS error is one line and exit 1."""
    try:
        path.parent.mkdir(exist_ok=True)
        return write_bundle_file(bundle, path)
    except OSError as exc:
        print_error_line(f"error: cannot write {path}: {exc.strerror or exc}; nothing was changed")
        raise typer.Exit(1) from exc


@models_app.command("calibrate")
def calibrate_command(
    name: Annotated[str, typer.Argument(help="Bundle name, as `facegate models list` shows it.")],
    data: Annotated[Path, typer.Option(help="Images root, one folder per person (LFW: lfw-deepfunneled).")],
    max_photos: Annotated[
        int | None, typer.Option(min=3, help="Only the first people by name, up to N photos in all.")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log each detection failure.")] = False,
) -> None:
    """Measure genuine and impostor scores over every photo pair and write the FAR curve into the bundle."""
    configure_logging(verbose=verbose)
    with cli_errors():
        settings, recognizer = build_eval_recognizer(name)
        located = find_bundle(name, bundle_search(settings))
        target = description_path_for_changes(located, bundle_search(settings))
        chosen = calibration_photos(data, max_photos=max_photos)
        refuse_too_few_pairs(data, chosen)
        photos = ((key, (data / key).read_bytes()) for key, _ in chosen)
        embedded = embed_with_progress(recognizer, photos, count=len(chosen), is_aligned=False)
        vectors = np.stack([embedded.vectors[key] for key, _ in chosen])
        genuine, impostor = all_pair_scores(vectors, [person for _, person in chosen])
        people = len({person for _, person in chosen})
        command = f"facegate models calibrate {shlex.quote(name)} --data {shlex.quote(str(data))}" + (
            f" --max-photos {max_photos}" if max_photos is not None else ""
        )
        calibration = calibrate(
            genuine,
            impostor,
            dataset=(
                f"{data.name}: {len(chosen)} photos of {people} people (first by name), "
                f"detector {settings.detector.kind}, {len(embedded.detect_failures)} detect failures; "
                "every same-person pair genuine, every cross-person pair impostor"
            ),
            command=command,
        )
        path = _write_calibrated(located.bundle.model_copy(update={"calibration": calibration}), target)
    copy = " (a copy of the built-in bundle, which is left as shipped)" if located.is_builtin else ""
    console.print(
        f"{located.bundle.model_id}: {calibration.genuine_pairs} genuine and {calibration.impostor_pairs} "
        f"impostor pairs; written to {path}{copy}",
        markup=False,
        highlight=False,
    )
    for point in calibration.thresholds:
        console.print(
            f"FAR {point.far:.2e}: cosine threshold {point.cos_threshold:.4f}, TAR {100 * point.tar:.2f}%",
            highlight=False,
        )
