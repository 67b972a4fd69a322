"""`facegate pad calibrate-door`: a door's PAD thresholds from its own monitor events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import yaml

from api.cli.audit import SinceCheckpoint, read_checkpoint
from api.cli.consoles import console, err_console
from api.cli.pad import default_pad_dir
from api.cli.pad_door_report import print_report
from api.cli.runtime import cli_errors, configure_logging, database_engine
from gate import (
    AttackComparison,
    CameraSelection,
    DoorCalibrationResult,
    GateSettings,
    MonitorScore,
    PadSettings,
    UnknownCamera,
    calibrate_door,
    camera_pad_settings,
    cameras_calibrated_apart,
    door_pad_settings,
    load_gates_file,
)
from recognition import RecognitionSettings, build_pad_detector
from storage import StorageSettings, load_keyring


def calibrate_door_command(
    door: Annotated[str, typer.Option(help="The door whose monitor events set its threshold.")],
    since: Annotated[
        datetime | None, typer.Option(help="Only events from this UTC time (inclusive).")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Only events before this UTC time (exclusive).")
    ] = None,
    bpcer_target: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of the door's bona fide events the threshold may refuse; default the door's "
            "pad.bpcer_target. The block printed sets both.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Gates file holding the door's cameras; default the environment's gate settings."),
    ] = None,
    camera: Annotated[
        str | None,
        typer.Option(
            help="Calibrate this camera of the door alone (its name in the gates file, or its source as "
            "audited): from its events only, under its own settings; needs --config.",
        ),
    ] = None,
    since_checkpoint: SinceCheckpoint = None,
    accept_weaker_pad: Annotated[
        bool,
        typer.Option(
            "--accept-weaker-pad",
            help="Print the `pad:` block even when a door threshold lets through more than 10 points more of "
            "some attack species than the card's (read off the card's attack evidence); without it the "
            "command refuses and says what the door would give up.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line last.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False,
) -> None:
    """Set a door's PAD thresholds (grey and colour tracks apart) from the PAD scores its gate recorded in
    `monitor`: the tracks it granted by match, at the door's BPCER target, by the card calibration's rule.
    This assumes the monitor period had no presentation attack (an attack granted then loosens the
    threshold). Events scored by other PAD weights or decided by another score (track rule or passive) than
    the door uses now refuse; a colour needs enough events that the target refuses at least 5 of them (500
    at 1%). The events are read as the audit chain verifies them (`facegate audit verify`, same master
    keys); a chain that does not verify refuses, naming its first bad event. With --since-checkpoint, only
    the chain after that signed checkpoint is verified and only its events are used (the checkpoint must be
    signed by one of the master keys and its link still be in the log). Prints the report (per colour
    each camera's events and refusals, the APCER per attack species at the new threshold and the card's
    from the card's attack evidence, per track for a door deciding by the track rule (the rule's own
    evidence), and the events at or above the new threshold to review before
    enforcing, by ids only) and the `pad:` block to paste into the door's camera settings. A threshold that
    gives up PAD (more than 10 points more of a species let through than at the card's) is printed only
    with --accept-weaker-pad. With --camera, one camera of the door (a backlit entrance, another lens) is
    calibrated from its own events under its own settings, and its block goes under that camera's only."""
    configure_logging(verbose=verbose)
    with cli_errors():
        settings, selection, calibrated_apart = _pad_settings(config, door=door, camera=camera)
        target = settings.bpcer_target if bpcer_target is None else bpcer_target
        checkpoint = read_checkpoint(since_checkpoint)
        detector = build_pad_detector(RecognitionSettings(), cache_dir=default_pad_dir())
        storage_settings = StorageSettings()  # the database and master keys `facegate audit verify` uses
        with database_engine(storage_settings) as engine:
            result = calibrate_door(
                engine,
                keyring=load_keyring(storage_settings),
                door=door,
                settings=settings,
                detector=detector,
                bpcer_target=target,
                since=since,
                until=until,
                checkpoint=checkpoint,
                camera=selection,
            )
    print_report(result)
    summary = result.weaker_pad_summary()
    if summary is not None and not accept_weaker_pad:
        if as_json:
            typer.echo(json.dumps(result_json(result, is_block_printed=False)))
        err_console.print(
            f"error: {result.scope}: this calibration gives up PAD: {summary}; no `pad:` block printed. "
            "Review the events listed, then pass --accept-weaker-pad to print it anyway, or keep the card's "
            "thresholds (a higher --bpcer-target sets a stricter threshold)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"\n{_paste_where(result)}:\n", markup=False, highlight=False)
    if calibrated_apart:
        console.print(
            f"note: cameras {', '.join(calibrated_apart)} of door {door} hold different door calibrations "
            "(one calibrated apart with --camera?); this block replaces each camera's it is pasted under: "
            "leave out a camera that keeps its own",
            markup=False,
            highlight=False,
        )
    console.print(settings_block(result, settings), markup=False, highlight=False)
    if summary is not None:
        console.print(
            f"(printed with --accept-weaker-pad: it gives up PAD: {summary})", markup=False, highlight=False
        )
    if as_json:
        typer.echo(json.dumps(result_json(result, is_block_printed=True)))


def _pad_settings(
    config: Path | None, *, door: str, camera: str | None
) -> tuple[PadSettings, CameraSelection | None, tuple[str, ...]]:
    """The PAD settings the calibration holds: the door's (every camera's alike), or one camera's own; and
    for a door-wide calibration, its cameras when they hold different door calibrations (which its block
    would replace).

    An unknown camera, or --camera without the gates file that names it, is a usage error: one line, exit 2.
    """
    if config is None:
        if camera is not None:
            _usage_error(
                "--camera needs --config: the gates file that names the door's cameras, under one of whose "
                "`settings:` the block goes"
            )
        return GateSettings().pad, None, ()
    cameras = load_gates_file(config).cameras
    if camera is None:
        return door_pad_settings(cameras, door), None, cameras_calibrated_apart(cameras, door)
    try:
        selection, settings = camera_pad_settings(cameras, door, camera)
    except UnknownCamera as exc:
        _usage_error(f"{exc}; nothing calibrated")
    return settings, selection, ()


def _usage_error(message: str) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(2)


def _paste_where(result: DoorCalibrationResult) -> str:
    """Where the block goes: under that camera's settings alone, or under every camera's of the door."""
    check = "`facegate gate --config FILE --check-config` checks it"
    if result.camera is not None:
        return (
            f"Paste under `settings:` of camera {result.camera.name} of door {result.door} in the gates "
            f"file, and of no other camera (the door's other cameras keep their own); {check}"
        )
    return (
        f"Paste under `settings:` of each camera of door {result.door} in the gates file (or under "
        f"`defaults:` for a one-door host); {check}"
    )


def settings_block(result: DoorCalibrationResult, settings: PadSettings) -> str:
    """The door's `pad:` settings with the new calibration, as YAML (its target set to the calibration's)."""
    calibration = result.calibration
    pad = settings.model_copy(
        update={"bpcer_target": calibration.bpcer_target, "door_calibration": calibration}
    )
    fields = pad.model_dump(mode="json", include={"bpcer_target", "door_calibration"}, exclude_none=True)
    block: str = yaml.safe_dump({"pad": fields}, sort_keys=False)
    return block.rstrip()


def result_json(result: DoorCalibrationResult, *, is_block_printed: bool = True) -> dict[str, Any]:
    """The report as JSON: the calibration, each colour's counts, thresholds and attack evidence, the events
    left out, and whether the door's thresholds give up PAD (and so whether the block was printed)."""
    return {
        "door": result.door,
        "camera": None
        if result.camera is None
        else {"name": result.camera.name, "source": result.camera.source},
        "weaker_pad": [c.colour for c in result.weaker_colours],
        "weaker_pad_summary": result.weaker_pad_summary(),
        "block_printed": is_block_printed,
        "calibration": result.calibration.model_dump(mode="json"),
        "colours": [
            {
                "colour": c.colour,
                "events": c.event_count,
                "events_needed": c.needed_count,
                "threshold": None if c.calibration is None else c.calibration.attack_threshold,
                "refused_at_threshold": c.refused_at_door,
                "card_threshold": c.card_threshold,
                "card_basis": c.card_basis,
                "refused_at_card_threshold": c.refused_at_card,
                "attack_evidence": _attacks_json(c.attacks),
                "attack_evidence_missing": c.attacks_missing,
                "review": [_review_json(event) for event in c.review],
                "cameras": [
                    {
                        "camera": camera.source,
                        "events": camera.event_count,
                        "refused_at_threshold": camera.refused_at_door,
                        "refused_at_card_threshold": camera.refused_at_card,
                        "own_threshold": camera.own_threshold,
                    }
                    for camera in c.cameras
                ],
            }
            for c in result.colours
        ],
        "left_out": result.skipped,
        "audit_chain": _chain_json(result),
    }


def _chain_json(result: DoorCalibrationResult) -> dict[str, Any]:
    """Which events of the audit chain were verified and read: after a checkpoint, or all of them."""
    chain, checkpoint = result.chain, result.checkpoint
    return {
        "checkpoint": None
        if checkpoint is None
        else {
            "sequence": checkpoint.sequence,
            "created_at": checkpoint.created_at.isoformat(),
            "public_key": checkpoint.public_key_hex,
            "acknowledged_breaks": [b.model_dump(mode="json") for b in checkpoint.acknowledged_breaks],
        },
        "first_sequence": chain.start_sequence + 1,
        "last_sequence": chain.last_sequence,
        "events_verified": chain.events_checked,
    }


def _attacks_json(attacks: AttackComparison | None) -> dict[str, Any] | None:
    """The card's attack evidence of a colour at both thresholds (APCER: share let through), or None."""
    if attacks is None:
        return None
    return {
        "dataset": attacks.dataset,
        "per": "track" if attacks.is_per_track else "still",
        "is_weaker": attacks.is_weaker,
        "species": [
            {
                "species": s.species,
                "attacks": s.attack_count,
                "apcer_at_threshold": s.apcer_at_door,
                "apcer_at_card_threshold": s.apcer_at_card,
            }
            for s in attacks.species
        ],
    }


def _review_json(event: MonitorScore) -> dict[str, Any]:
    """Ids only (E5): what finds the track's footage, never a name or a template."""
    return {
        "event_id": event.event_id,
        "occurred_at": event.occurred_at.isoformat(),
        "camera": event.source,
        "track_id": event.track_id,
        "person_id": event.person_id,
        "pad_score": event.score,
    }
