"""A door's PAD thresholds from its own monitor events: its employees' bona fide presentations.

The card's thresholds come from photos (LFW, CelebA); a door camera's optics, lighting and night/IR mode
score the door's own people differently. Run in `monitor`, the gate records every track's PAD score without
denying; the events it granted by match are the door's would-be-granted employees. Assuming the monitor
period had no attack (the operator's to vouch for: an attack granted then would loosen the threshold), those
scores are bona fide, and the threshold at the door's BPCER target is set from them by the card
calibration's own rule (`recognition.threshold_at_bpcer`), one per colour the events recorded (grey tracks
score far higher). Only events scored by the PAD weights loaded now, and decided by the same score (the
passive mean or the card's track rule) as the door decides by now, are comparable: anything else refuses.
The scores are read through the audit chain's verification, and any break refuses (pad_monitor_events.py).
One camera of the door may be calibrated apart, from its events alone (pad_camera_selection.py).

A monitor period shows no attacks, so what a door threshold gives up in attacks is read off the card's
attack evidence, per colour, at the door's threshold and the card's (pad_door_attacks.py; for a door that
decides by the track rule, the rule's own evidence, per track, for its tracks' colour only); the result
says when the door's gives up PAD (`weaker_colours`) and, without evidence, that there is none.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from gate.errors import DoorCalibrationRefused
from gate.pad import PadGate, ScoreKind, deciding_score, scope_label
from gate.pad_camera_selection import CameraSelection
from gate.pad_door_attacks import AttackComparison, card_attack_evidence, compare_attacks, given_up_line
from gate.pad_monitor_events import COLOURS, Colour, MonitorScore, after_checkpoint, monitor_scores
from gate.settings import DoorColourCalibration, DoorPadCalibration, PadSettings
from recognition import PadAttackEvidence, PresentationAttackDetector, threshold_at_bpcer
from storage import ChainReport, Checkpoint, Cipher, Engine

MIN_REFUSED_EVENTS = 5
"""A colour is calibrated only from enough events that its threshold refuses at least this many of them
(n ≥ MIN_REFUSED_EVENTS / BPCER target: 500 at 1%). With k = floor(target × n) events above it, the
threshold is the (k+1)-th highest score; its true BPCER on new traffic is then spread like Beta(k+1, n−k),
whose relative standard deviation is about 1/sqrt(k+1): 100% at k = 0 (the highest score seen, the target
meaningless), 41% at k = 5. Five is the least that makes the target more than a label; more is better."""


@dataclass(frozen=True)
class CameraResult:
    """One camera's events of a colour (by its source as audited) at the door's pooled thresholds."""

    source: str
    event_count: int
    refused_at_door: int
    refused_at_card: int
    own_threshold: float | None
    """Its threshold at the target from its own events alone, when they are enough (`min_events`)."""


@dataclass(frozen=True)
class ColourResult:
    """One colour's events and, when there were enough, its door threshold, with the card's beside it."""

    colour: Colour
    event_count: int
    needed_count: int
    calibration: DoorColourCalibration | None
    refused_at_door: int
    card_threshold: float
    card_basis: str
    refused_at_card: int
    review: tuple[MonitorScore, ...] = ()
    """The events at or above the door threshold, most attack-like first (empty when not calibrated). The
    threshold is one of their scores and they alone fix it, so an attack granted while monitoring loosened
    it only if it is among them: the operator checks their footage before enforcing."""
    cameras: tuple[CameraResult, ...] = ()
    """Per camera, by source: one that differs (a backlit entrance, another lens) shows here."""
    attacks: AttackComparison | None = None
    """The card's attack evidence of this colour at the door's threshold and the card's (pad_door_attacks)."""
    attacks_missing: str | None = None
    """Why there is no attack evidence for this colour (then `attacks` is None)."""


@dataclass(frozen=True)
class DoorCalibrationResult:
    """The door calibration to store and what it was measured on."""

    door: str
    calibration: DoorPadCalibration
    colours: tuple[ColourResult, ...]
    skipped: dict[str, int]
    """Granted events of the window left out, by reason (not monitor, not by match, no PAD score, ...)."""
    chain: ChainReport
    """The verification the events were read through: from event `start_sequence` + 1 (after `checkpoint`)
    to `last_sequence`; no event up to `start_sequence` was read."""
    checkpoint: Checkpoint | None = None
    """The signed checkpoint the walk started after; None: the whole chain."""
    camera: CameraSelection | None = None
    """The one camera whose events alone it was measured on, for its settings only; None: the whole door."""

    @property
    def scope(self) -> str:
        """'door front', or 'door front, camera side-cam' (`scope_label`)."""
        return scope_label(self.door, None if self.camera is None else self.camera.name)

    @property
    def weaker_colours(self) -> tuple[ColourResult, ...]:
        """The colours whose door threshold gives up PAD on the card's attack evidence (`is_weaker`)."""
        return tuple(c for c in self.colours if c.attacks is not None and c.attacks.is_weaker)

    def weaker_pad_summary(self) -> str | None:
        """One line saying what the door's thresholds give up against the card's, or None when none does."""
        parts = [
            f"{c.colour} threshold {c.calibration.attack_threshold:.6f} (the card's "
            f"{c.card_threshold:.6f}) lets through {given_up_line(c.attacks)} of "
            f"{c.attacks.attacks_named} ({c.attacks.dataset})"
            for c in self.weaker_colours
            if c.calibration is not None and c.attacks is not None
        ]
        return "; ".join(parts) or None


def min_events(bpcer_target: float) -> int:
    """Events of one colour needed at `bpcer_target` (see MIN_REFUSED_EVENTS).

    Raises:
        DoorCalibrationRefused: a target outside (0, 1).
    """
    if not 0.0 < bpcer_target < 1.0:
        raise DoorCalibrationRefused(f"BPCER target {bpcer_target:g} is not in (0, 1)")
    return math.ceil(MIN_REFUSED_EVENTS / bpcer_target - 1e-9)


def _check_comparable(
    scores: list[MonitorScore], *, weights_sha256: str, score_kind: ScoreKind, track_rule_sha256: str | None
) -> None:
    """Every score must come from the loaded PAD weights and the score the door decides by now, and when that
    is the track rule's, from the card's rule now (`track_rule_sha256`)."""
    other_weights = Counter(s.weights_hash for s in scores if s.weights_hash != weights_sha256)
    if other_weights:
        found = ", ".join(f"{str(h)[:12]} ({n})" for h, n in other_weights.most_common())
        raise DoorCalibrationRefused(
            f"{sum(other_weights.values())} of {len(scores)} monitor events were scored with other PAD "
            f"weights ({found}) than the loaded {weights_sha256[:12]}; the PAD model changed in the window: "
            "choose --since after the change"
        )
    other_kind = sum(1 for s in scores if s.score_kind != score_kind)
    if other_kind:
        raise DoorCalibrationRefused(
            f"{other_kind} of {len(scores)} monitor events were decided by another score than the "
            f"{score_kind} score the door decides by now (pad.allow_track_rule or the card's track rule "
            "changed): their scores mean something else; choose a window after the change"
        )
    if score_kind == "track_rule":
        _check_same_rule(scores, track_rule_sha256=track_rule_sha256)


def _check_same_rule(scores: list[MonitorScore], *, track_rule_sha256: str | None) -> None:
    """Every rule-decided score must come from the card's track rule now (its coefficients' hash); events
    recorded before the gate named its rule are of an unknown rule, and refused too."""
    other_rules = Counter(s.track_rule_sha256 for s in scores if s.track_rule_sha256 != track_rule_sha256)
    if not other_rules:
        return
    found = ", ".join(
        f"{'rule unknown (recorded before events named their rule)' if h is None else h[:12]} ({n})"
        for h, n in other_rules.most_common()
    )
    now = "none" if track_rule_sha256 is None else track_rule_sha256[:12]
    raise DoorCalibrationRefused(
        f"{sum(other_rules.values())} of {len(scores)} monitor events were decided by another track rule "
        f"({found}) than the card's {now}: the rule was refit (other coefficients), so their scores mean "
        "something else; choose --since after the rule was installed and monitor again if need be"
    )


def _colour_result(
    colour: Colour,
    scores: list[MonitorScore],
    *,
    bpcer_target: float,
    card: tuple[float, str],
    evidence: tuple[PadAttackEvidence | None, str | None],
) -> ColourResult:
    """One colour's door threshold by the card calibration's rule, or none when too few events, and the
    card's attack evidence read at both thresholds."""
    values = [s.score for s in scores]
    needed = min_events(bpcer_target)
    calibration = None
    if len(values) >= needed:
        calibration = DoorColourCalibration(
            attack_threshold=threshold_at_bpcer(values, bpcer_target),
            event_count=len(values),
            first_event_at=min(s.occurred_at for s in scores),
            last_event_at=max(s.occurred_at for s in scores),
        )
    card_threshold, card_basis = card
    door_threshold = None if calibration is None else calibration.attack_threshold
    attack_scores, attacks_missing = evidence
    return ColourResult(
        colour=colour,
        event_count=len(values),
        needed_count=needed,
        calibration=calibration,
        refused_at_door=0 if calibration is None else sum(v > calibration.attack_threshold for v in values),
        card_threshold=card_threshold,
        card_basis=card_basis,
        refused_at_card=sum(v > card_threshold for v in values),
        review=() if calibration is None else _review_events(scores, calibration.attack_threshold),
        cameras=_camera_results(
            scores,
            door_threshold=door_threshold,
            card_threshold=card_threshold,
            bpcer_target=bpcer_target,
        ),
        attacks=None
        if attack_scores is None
        else compare_attacks(attack_scores, door_threshold=door_threshold, card_threshold=card_threshold),
        attacks_missing=attacks_missing,
    )


def _camera_results(
    scores: list[MonitorScore], *, door_threshold: float | None, card_threshold: float, bpcer_target: float
) -> tuple[CameraResult, ...]:
    """Each camera's count and refusals at the pooled thresholds; its own threshold when it can have one."""
    by_source: dict[str, list[float]] = defaultdict(list)
    for s in scores:
        by_source[s.source].append(s.score)
    needed = min_events(bpcer_target)
    return tuple(
        CameraResult(
            source=source,
            event_count=len(values),
            refused_at_door=0 if door_threshold is None else sum(v > door_threshold for v in values),
            refused_at_card=sum(v > card_threshold for v in values),
            own_threshold=threshold_at_bpcer(values, bpcer_target) if len(values) >= needed else None,
        )
        for source, values in sorted(by_source.items())
    )


def _review_events(scores: list[MonitorScore], threshold: float) -> tuple[MonitorScore, ...]:
    """The events scoring at or above `threshold` (attack scores: higher is more attack-like), highest
    first, ties by event id: floor(target × n) + 1 of them, and any tied with the threshold."""
    at_or_above = [s for s in scores if s.score >= threshold]
    return tuple(sorted(at_or_above, key=lambda s: (-s.score, s.event_id)))


def calibrate_door(
    engine: Engine,
    *,
    keyring: Cipher,
    door: str,
    settings: PadSettings,
    detector: PresentationAttackDetector,
    bpcer_target: float,
    since: datetime | None = None,
    until: datetime | None = None,
    checkpoint: Checkpoint | None = None,
    camera: CameraSelection | None = None,
) -> DoorCalibrationResult:
    """The door's PAD thresholds at `bpcer_target` from its monitor events granted by match in
    [since, until), per colour with enough events (`min_events`); `settings` is the door's PAD settings
    now (whether the track rule decides), `detector` the PAD model loaded now, `keyring` the master keys
    the audit chain is verified with (as `facegate audit verify` loads them). With `checkpoint` (signed
    under one of those keys), only the events after it are read and the chain is verified from it on.
    With `camera`, only that camera's events are read (by its source as audited) and `settings` are its
    own: every refusal and count is of its events alone.
    Each colour also reads the card's attack evidence of that colour at both thresholds, or says why there
    is none (`attacks_missing`).

    Raises:
        DoorCalibrationRefused: a target outside (0, 1), the checkpoint does not hold, the audit chain
            (after it) does not verify, no colour has enough events, or some were scored with other PAD
            weights or decided by another score than the door decides by now.
        ThresholdUnavailable: the card has no threshold at `bpcer_target` to compare with.
        DatabaseUnavailable: the database fails.
    """
    needed = min_events(bpcer_target)
    score_kind = deciding_score(settings, detector)
    scores, skipped, chain = monitor_scores(
        engine,
        keyring=keyring,
        door=door,
        since=since,
        until=until,
        checkpoint=checkpoint,
        source=None if camera is None else camera.source,
    )
    rule = detector.track_rule if score_kind == "track_rule" else None
    rule_sha256 = None if rule is None else rule.rule_sha256
    _check_comparable(
        scores, weights_sha256=detector.weights_sha256, score_kind=score_kind, track_rule_sha256=rule_sha256
    )
    without_door = {"policy": "monitor", "bpcer_target": bpcer_target, "door_calibration": None}
    card = PadGate(settings.model_copy(update=without_door), detector, door=door)
    results = tuple(
        _colour_result(
            colour,
            [s for s in scores if s.colour == colour],
            bpcer_target=bpcer_target,
            card=(card.grey_threshold, card.grey_basis) if colour == "grey" else (card.threshold, card.basis),
            evidence=card_attack_evidence(detector, colour=colour, score_kind=score_kind),
        )
        for colour in COLOURS
    )
    by_colour = {r.colour: r.calibration for r in results}
    if all(calibration is None for calibration in by_colour.values()):
        counts = ", ".join(f"{r.colour} {r.event_count}" for r in results)
        scope = scope_label(door, None if camera is None else camera.name)
        raise DoorCalibrationRefused(
            f"{scope}: too few monitor events granted by match to set a threshold at "
            f"BPCER {bpcer_target:g} (need {needed} of one colour, so that it refuses at least "
            f"{MIN_REFUSED_EVENTS}; found {counts}{after_checkpoint(chain)}): monitor longer or widen the "
            "window"
        )
    calibration = DoorPadCalibration(
        pad_weights_sha256=detector.weights_sha256,
        score=score_kind,
        track_rule_sha256=rule_sha256,
        bpcer_target=bpcer_target,
        colour=by_colour["colour"],
        grey=by_colour["grey"],
    )
    return DoorCalibrationResult(
        door=door,
        calibration=calibration,
        colours=results,
        skipped=dict(skipped),
        chain=chain,
        checkpoint=checkpoint,
        camera=camera,
    )
