"""`facegate pad calibrate-door`: a door's PAD thresholds from its own monitor events."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from api.cli.audit import SinceCheckpoint, read_checkpoint
from api.cli.pad import default_pad_dir
from api.cli.runtime import cli_errors, configure_logging, err_console
from gate import (
    WEAKER_PAD_APCER_POINTS,
    AttackComparison,
    ColourResult,
    DoorCalibrationResult,
    GateSettings,
    MonitorScore,
    PadSettings,
    calibrate_door,
    door_pad_settings,
    load_gates_file,
)
from recognition import RecognitionSettings, build_pad_detector
from storage import StorageSettings, load_keyring, open_database

console = Console(soft_wrap=True)
REVIEW_LINES = 20
"""Review events printed per colour; --json holds them all."""


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
    with --accept-weaker-pad."""
    configure_logging(verbose=verbose)
    with cli_errors():
        if config is not None:
            settings = door_pad_settings(load_gates_file(config).cameras, door)
        else:
            settings = GateSettings().pad
        target = settings.bpcer_target if bpcer_target is None else bpcer_target
        checkpoint = read_checkpoint(since_checkpoint)
        detector = build_pad_detector(RecognitionSettings(), cache_dir=default_pad_dir())
        storage_settings = StorageSettings()  # the database and master keys `facegate audit verify` uses
        engine = open_database(storage_settings)
        try:
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
            )
        finally:
            engine.dispose()
    _print_report(result)
    summary = result.weaker_pad_summary()
    if summary is not None and not accept_weaker_pad:
        if as_json:
            typer.echo(json.dumps(result_json(result, is_block_printed=False)))
        err_console.print(
            f"error: door {door}: this calibration gives up PAD: {summary}; no `pad:` block printed. Review "
            "the events listed, then pass --accept-weaker-pad to print it anyway, or keep the card's "
            "thresholds (a higher --bpcer-target sets a stricter threshold)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(
        f"\nPaste under `settings:` of each camera of door {door} in the gates file (or under `defaults:` "
        f"for a one-door host); `facegate gate --config FILE --check-config` checks it:\n",
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
        },
        "first_sequence": chain.start_sequence + 1,
        "last_sequence": chain.last_sequence,
        "events_verified": chain.events_checked,
    }


def chain_line(result: DoorCalibrationResult) -> str:
    """One line: the stretch of the audit chain verified and read, and what was left unread before it."""
    chain, checkpoint = result.chain, result.checkpoint
    if checkpoint is None:
        return (
            f"audit chain: verified whole, events 1 to {chain.last_sequence} ({chain.events_checked} events)"
        )
    return (
        f"audit chain: verified from the checkpoint of event {checkpoint.sequence} signed "
        f"{checkpoint.created_at:%Y-%m-%d %H:%M:%S} UTC by {checkpoint.public_key_hex[:16]}: events "
        f"{chain.start_sequence + 1} to {chain.last_sequence} ({chain.events_checked} events); the "
        f"{checkpoint.sequence} events up to the checkpoint were not verified and not used"
    )


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


def _print_review(review: tuple[MonitorScore, ...]) -> None:
    console.print(
        f"  review their footage before enforcing: the {len(review)} events at or above it, most "
        "attack-like first (an attack granted while monitoring loosened the threshold only if it is "
        "among them):",
        markup=False,
        highlight=False,
    )
    for event in review[:REVIEW_LINES]:
        console.print(
            f"    event {event.event_id} {event.occurred_at:%Y-%m-%d %H:%M:%S} camera {event.source} "
            f"track {event.track_id} person {event.person_id} score {event.score:.6f}",
            markup=False,
            highlight=False,
        )
    if len(review) > REVIEW_LINES:
        console.print(f"    ... {len(review) - REVIEW_LINES} more in --json", markup=False, highlight=False)


def _print_cameras(c: ColourResult) -> None:
    """Each camera's share of the colour's events and refusals: one that differs stands out."""
    for camera in c.cameras:
        n = camera.event_count
        refused = (
            [] if c.calibration is None else [f"this threshold refuses {_share(camera.refused_at_door, n)}"]
        )
        refused.append(f"the card's {_share(camera.refused_at_card, n)}")
        own = (
            f"its own events alone: {camera.own_threshold:.6f}"
            if camera.own_threshold is not None
            else f"too few for a threshold of its own (needs {c.needed_count})"
        )
        console.print(
            f"  camera {camera.source}: {n} events ({n / c.event_count:.0%}); {', '.join(refused)}; {own}",
            markup=False,
            highlight=False,
        )


def _print_attacks(c: ColourResult) -> None:
    """The APCER per species at the door's threshold and the card's (per track for the track rule's
    evidence), a WARNING when the door's gives up PAD, or plainly that the card holds no attack evidence
    for this colour."""
    if c.attacks is None:
        console.print(
            f"  attacks: unknown: {c.attacks_missing}; what it gives up in attacks is not measured",
            markup=False,
            highlight=False,
        )
        return
    shares = ", ".join(
        (
            f"{s.species} {s.apcer_at_door:.2%} at this threshold, "
            if s.apcer_at_door is not None
            else f"{s.species} "
        )
        + f"{s.apcer_at_card:.2%} at the card's (of {s.attack_count})"
        for s in c.attacks.species
    )
    evidence = "the card's attack evidence"
    if c.attacks.is_per_track:
        evidence = "per track, the track rule's attack evidence"
    console.print(
        f"  attacks let through (APCER), {evidence} ({c.attacks.dataset}): {shares}",
        markup=False,
        highlight=False,
    )
    if c.attacks.is_weaker and c.calibration is not None:
        console.print(
            f"  WARNING: this threshold gives up PAD: more than {WEAKER_PAD_APCER_POINTS * 100:g} points "
            f"more of {', '.join(s.species for s in c.attacks.species if s.is_given_up)} "
            "let through than at the card's threshold (the door's bona fide events score like attacks); its "
            "block is printed only with --accept-weaker-pad",
            markup=False,
            highlight=False,
        )


def _share(count: int, total: int) -> str:
    return f"{count} ({count / total:.2%})"


def _print_report(result: DoorCalibrationResult) -> None:
    calibration = result.calibration
    left_out = ", ".join(f"{why} {n}" for why, n in sorted(result.skipped.items())) or "none"
    console.print(
        f"door {result.door}: PAD weights {calibration.pad_weights_sha256[:12]}, {calibration.score} score, "
        f"BPCER target {calibration.bpcer_target:g}; granted events left out: {left_out}",
        markup=False,
        highlight=False,
    )
    console.print(chain_line(result), markup=False, highlight=False)
    for c in result.colours:
        card = f"the card's {c.card_threshold:.6f} ({c.card_basis}) refuses {c.refused_at_card}"
        if c.calibration is None:
            console.print(
                f"{c.colour}: {c.event_count} events, fewer than the {c.needed_count} needed: not "
                f"calibrated, keeps the card's threshold; {card} of them",
                markup=False,
                highlight=False,
            )
            _print_cameras(c)
            _print_attacks(c)
            continue
        console.print(
            f"{c.colour}: {c.event_count} events {c.calibration.first_event_at:%Y-%m-%d %H:%M} to "
            f"{c.calibration.last_event_at:%Y-%m-%d %H:%M}: threshold {c.calibration.attack_threshold:.6f} "
            f"refuses {c.refused_at_door} of them; {card}",
            markup=False,
            highlight=False,
        )
        _print_cameras(c)
        _print_attacks(c)
        _print_review(c.review)
