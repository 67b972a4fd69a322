"""`facegate pad calibrate-door`'s report: per colour its threshold, cameras, attacks and events to review."""

from __future__ import annotations

from api.cli.consoles import console
from gate import WEAKER_PAD_APCER_POINTS, ColourResult, DoorCalibrationResult, MonitorScore

REVIEW_LINES = 20
"""Review events printed per colour; --json holds them all."""


def chain_line(result: DoorCalibrationResult) -> str:
    """One line: the stretch of the audit chain verified and read, and what was left unread before it (with
    the breaks there that a re-anchored checkpoint acknowledged)."""
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
        f"{f' (it was signed {checkpoint.acknowledges()})' if checkpoint.acknowledged_breaks else ''}"
    )


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


def print_report(result: DoorCalibrationResult) -> None:
    calibration = result.calibration
    left_out = ", ".join(f"{why} {n}" for why, n in sorted(result.skipped.items())) or "none"
    camera = "" if result.camera is None else f" ({result.camera.source} as audited, its events only)"
    console.print(
        f"{result.scope}{camera}: PAD weights {calibration.pad_weights_sha256[:12]}, "
        f"{calibration.score} score, BPCER target {calibration.bpcer_target:g}; granted events left out: "
        f"{left_out}",
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
