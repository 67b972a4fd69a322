"""`facegate pad`: convert the MiniFASNet pair to ONNX once; calibrate its threshold on bona fide photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.consoles import console, err_console
from api.cli.runtime import cli_errors, configure_logging
from recognition import (
    EvaluationDataError,
    FaceFillCalibration,
    PadAttackEvidence,
    PadCalibration,
    PadCalibrationSource,
    PadCard,
    PhotoSelection,
    PresentationAttackDetector,
    RecognitionSettings,
    Recognizer,
    ScoredStills,
    all_photos,
    attack_evidence,
    build_pad_detector,
    build_recognizer,
    calibrate_pad,
    find_pad_card,
    image_paths,
    listed_photos,
    names_sha256,
    pad_search_dirs,
    read_pad_card,
    score_stills,
    with_face_fill_calibration,
    with_main_calibration,
    write_pad_card,
)
from recognition import (
    every_nth_person as every_nth_person_photos,
)
from storage import StorageSettings

pad_app = typer.Typer(
    help="Presentation-attack detection: convert the MiniFASNet pair, calibrate its threshold (from photos "
    "or a door's traffic), make simulated attacks.",
    no_args_is_help=True,
)


def default_pad_dir() -> Path:
    """Where `pad export` writes by default: the models cache the runtime searches (FACEGATE_HOME/models)."""
    return StorageSettings().home / "models"


@pad_app.command("export")
def export_command(
    source: Annotated[
        Path | None,
        typer.Option(help="Folder with the two MiniFASNet .pth files; default: the first bundle directory."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Model directory to write minifasnet-pad/ into; default FACEGATE_HOME/models."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Convert the pinned MiniFASNet state dicts once to ONNX (needs the `train` extra: torch)."""
    configure_logging(verbose=verbose)
    try:
        from training.errors import TrainingError
        from training.pad_export import export_pad_models
    except ImportError as exc:
        err_console.print(f"error: needs the train extra (pip install -e '.[train]'): {exc}")
        raise typer.Exit(1) from exc
    settings = RecognitionSettings()
    source_dir = source or settings.bundle_dirs[0]
    target = (out or default_pad_dir()) / "minifasnet-pad"
    with cli_errors():
        try:
            export = export_pad_models(source_dir, target)
        except TrainingError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from exc
    console.print(f"wrote {export.card_path}", markup=False, highlight=False)
    if export.kept:
        console.print(
            f"kept from the card there (the nets are byte-identical): {', '.join(export.kept)}",
            markup=False,
            highlight=False,
        )
    if export.dropped:
        err_console.print(
            f"warning: dropped from the card there (its nets differ from the converted ones, so they "
            f"describe other scores): {', '.join(export.dropped)}; calibrate again (`facegate pad "
            "calibrate`, and refit the track rule)",
            markup=False,
            highlight=False,
        )


@pad_app.command("calibrate")
def calibrate_command(
    data: Annotated[
        list[Path], typer.Option("--data", help="Folder(s) of bona fide photos (searched recursively).")
    ],
    dataset: Annotated[str, typer.Option(help="Name recorded with the calibration.")] = "bona fide photos",
    every_nth_person: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Only the photos of every Nth person folder of the one --data folder (subfolders in "
            "code-point order of their names).",
        ),
    ] = None,
    person_offset: Annotated[
        int, typer.Option(min=0, help="With --every-nth-person: 0-based index of the first folder taken.")
    ] = 0,
    photo_list: Annotated[
        Path | None,
        typer.Option("--list", help="Only the photos in this file: one path relative to --data a line."),
    ] = None,
    fill_warp_padding: Annotated[
        bool,
        typer.Option(
            "--fill-warp-padding",
            help="Inpaint each photo's black warp border (deep-funnelled LFW) before scoring: the border "
            "is a frame around the face that MiniFASNet scores as an attack; recorded in the card.",
        ),
    ] = False,
    is_grayscale: Annotated[
        bool,
        typer.Option(
            "--grayscale",
            help="Convert each photo to grey before scoring (recorded in the card) and write the card's "
            "calibration for grey frames and photos (a night/IR door camera, a scanned archive), which "
            "MiniFASNet scores far higher than colour ones; with --face-filling, the face-fill calibration "
            "for grey photos. Without it the colour calibration is written; the other colour's is kept.",
        ),
    ] = False,
    is_face_filling: Annotated[
        bool,
        typer.Option(
            "--face-filling",
            help="Keep only the photos whose face fills the frame (scored with the face-fill crop) and write "
            "the card's face-fill calibration for one colour, which enrollment uses for such headshots of "
            "that colour: grey with --grayscale, else colour (photos that are grey, their channels equal up "
            "to a codec's error, are then left out); the other colour's and the gate's calibration are left "
            "as they are.",
        ),
    ] = False,
    attacks: Annotated[
        Path | None,
        typer.Option(
            "--attacks",
            help="Folder with attack/<species>/ stills (as `pad make-attacks` writes, best of people outside "
            "--data): scored as the photos are (same colour and crop; no border filling: make-attacks "
            "--fill-warp-padding fills each photo before rendering) and recorded with the calibration as "
            "its attack evidence, from which `pad calibrate-door` says what APCER a door threshold gives "
            "up. Without it the new calibration has no attack evidence. Not with --face-filling.",
        ),
    ] = None,
    attack_dataset: Annotated[
        str, typer.Option(help="Name recorded with the attack evidence (what the attacks are).")
    ] = "simulated attacks (pad make-attacks)",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line last.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Set the PAD thresholds at target BPCERs (1%, 5%, 10%) from bona fide photos; written into pad.json
    with the selection rule, photo count, sha256 of the photo names and crop settings, to reproduce it, and
    with --attacks the attack stills' scores per species (the APCER each threshold gives up)."""
    configure_logging(verbose=verbose)
    if (every_nth_person is not None or photo_list is not None) and len(data) != 1:
        err_console.print("error: --every-nth-person and --list take exactly one --data folder")
        raise typer.Exit(2)
    if attacks is not None and is_face_filling:
        err_console.print(
            "error: --attacks records attack evidence for the main calibrations, not --face-filling"
        )
        raise typer.Exit(2)
    settings = RecognitionSettings()
    cache_dir = default_pad_dir()
    with cli_errors():
        selection = _selection(data, every_nth_person, person_offset, photo_list)
        card_path = find_pad_card(pad_search_dirs(settings, cache_dir=cache_dir))
        pad = build_pad_detector(settings, cache_dir=cache_dir)
        recognizer = build_recognizer(settings, cache_dir=cache_dir)
        scored = score_stills(
            selection.paths,
            recognizer,
            pad,
            is_warp_padding_filled=fill_warp_padding,
            is_grayscale=is_grayscale,
        )
        source = PadCalibrationSource(
            rule=selection.rule,
            photo_count=len(selection.paths),
            paths_sha256=selection.sha256,
            crop=settings.pad.model_dump(mode="json", exclude={"kind"}),
            detector=settings.detector.model_dump(mode="json"),
            is_warp_padding_filled=fill_warp_padding,
            is_grayscale=is_grayscale,
        )
        evidence = None
        if attacks is not None:
            evidence = _attack_evidence(
                attacks, recognizer, pad, is_grayscale=is_grayscale, dataset=attack_dataset
            )
        card, calibration, field = _calibrated_card(
            read_pad_card(card_path),
            scored,
            source,
            dataset=dataset,
            is_face_filling=is_face_filling,
            is_grayscale=is_grayscale,
            evidence=evidence,
        )
        write_pad_card(card, card_path)
    for point in calibration.points:
        console.print(
            f"BPCER {point.bpcer:.0%}: attack score > {point.attack_threshold:.4f} is an attack"
            + _apcer_line(evidence, point.attack_threshold),
            markup=False,
            highlight=False,
        )
    console.print(
        f"{selection.rule}: {len(selection.paths)} photos (sha256 of their names {selection.sha256}"
        f"{', warp border filled' if fill_warp_padding else ''}{', in grey' if is_grayscale else ''}), "
        f"{len(scored.scores)} scored, {len(scored.detection_failures)} without a face"
        f"{f', {calibration.bona_fide_count} with the face filling the frame' if is_face_filling else ''}; "
        f"{field} written to {card_path}",
        markup=False,
        highlight=False,
    )
    if evidence is not None:
        counts = ", ".join(
            f"{e.species} {e.scored_count} scored, {e.detection_failures} without a face"
            for e in evidence.species
        )
        console.print(
            f"attack evidence ({evidence.dataset}): {counts}; recorded with the calibration",
            markup=False,
            highlight=False,
        )
    if as_json:
        typer.echo(json.dumps(calibration.model_dump(mode="json")))


def _calibrated_card(
    card: PadCard,
    scored: ScoredStills,
    source: PadCalibrationSource,
    *,
    dataset: str,
    is_face_filling: bool,
    is_grayscale: bool,
    evidence: PadAttackEvidence | None = None,
) -> tuple[PadCard, PadCalibration, str]:
    """`card` with the calibration measured on `scored` in place, the calibration, and what it replaced.

    Not face-filling: the main calibration of one colour, grey (`grey_calibration`, the gate's threshold for
    grey frames) with `is_grayscale`, else colour (`calibration`); the other colour's is kept.

    Face-filling: only the photos whose face fills the frame count, and the calibration is for one colour:
    grey with `is_grayscale` (every photo was turned grey), else colour, measured on the colour photos only
    (a photo scored grey, its channels equal up to a codec's error, is left out and counted in `field`).

    Raises:
        EvaluationDataError: no photo to calibrate on.
    """
    if not is_face_filling:
        calibration = calibrate_pad(scored.attack_scores, dataset=dataset, source=source).model_copy(
            update={"attack_evidence": evidence}
        )
        field = "grey calibration (grey frames)" if is_grayscale else "calibration (colour frames)"
        return with_main_calibration(card, calibration, is_grayscale=is_grayscale), calibration, field
    filling = [s for s in scored.scores.values() if s.is_face_filling_frame]
    kept = [s.attack_score for s in filling if s.is_grayscale == is_grayscale]
    calibration = calibrate_pad(kept, dataset=dataset, source=source)
    entry = FaceFillCalibration(is_grayscale=is_grayscale, calibration=calibration)
    colour = "grey" if is_grayscale else "colour"
    left_out = "" if is_grayscale else f" ({len(filling) - len(kept)} grey photos left out)"
    return (
        with_face_fill_calibration(card, entry),
        calibration,
        f"face-fill calibration for {colour} photos{left_out}",
    )


def _attack_evidence(
    folder: Path,
    recognizer: Recognizer,
    pad: PresentationAttackDetector,
    *,
    is_grayscale: bool,
    dataset: str,
) -> PadAttackEvidence:
    """The stills of `folder`/attack/<species>/ scored as the calibration's photos are, per species.

    Raises:
        EvaluationDataError: no attack/<species>/ folder, or no attack still with a face.
    """
    root = folder / "attack"
    species_dirs = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    if not species_dirs:
        raise EvaluationDataError(f"{folder} has no attack/<species>/ folders (as `pad make-attacks` writes)")
    paths = {d.name: image_paths(d) for d in species_dirs}
    names = [
        f"{species}/{p.relative_to(root / species).as_posix()}" for species, ps in paths.items() for p in ps
    ]
    scored = {s: score_stills(ps, recognizer, pad, is_grayscale=is_grayscale) for s, ps in paths.items()}
    return attack_evidence(
        {s: result.attack_scores for s, result in scored.items()},
        {s: len(result.detection_failures) for s, result in scored.items()},
        dataset=dataset,
        paths_sha256=names_sha256(names),
    )


def _apcer_line(evidence: PadAttackEvidence | None, threshold: float) -> str:
    """'; attacks let through: print 12.00% of 300, ...' at `threshold`, or '' without evidence."""
    if evidence is None:
        return ""
    shares = ", ".join(
        f"{entry.species} {entry.apcer_at(threshold):.2%} of {entry.scored_count}"
        for entry in evidence.species
    )
    return f"; attacks let through (APCER): {shares}"


def _selection(
    data: list[Path], every_nth_person: int | None, person_offset: int, photo_list: Path | None
) -> PhotoSelection:
    """The photos `calibrate` scores, from its options (raises EvaluationDataError when none)."""
    if photo_list is not None:
        return listed_photos(data[0], photo_list)
    if every_nth_person is not None:
        return every_nth_person_photos(data[0], every_nth=every_nth_person, offset=person_offset)
    return all_photos(data)
