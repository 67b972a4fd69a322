"""What a door's PAD threshold gives up in attacks, read off the attack evidence of the card's calibration.

A monitor period holds no attacks, so a door calibration sees only the bona fide side: where the door's own
people score like attacks (a backlit entrance, a recapturing lens, the bench's stand-ins) its threshold rises
towards 1 and lets most attacks through (BENCHMARKS.md: 0.999452 against the card's 0.844 at 1%, nine in ten
simulated attacks through). The card's calibration may carry the scores of attack stills scored like its
photos (`facegate pad calibrate --attacks`); the APCER per species at the door's threshold and at the card's
is then read off them, for the colour they were measured in (grey attacks score far higher than colour ones,
so a grey door threshold is never judged on colour attacks). A door threshold that lets through more than
WEAKER_PAD_APCER_POINTS more of any species than the card's gives up PAD: `calibrate-door` warns and prints
its settings only on request. Without evidence it says so, and guesses nothing.

A door that decides by the card's track rule reads the rule's own evidence instead: the rule's scores on
attack tracks it was not fitted on (bench/pad_cues.py), one a track as the door decides, at the same warning
rule. The rule keeps it per colour of its tracks (`PadTrackRule.attack_evidence`, each recording the colour
the gate recorded for them): the rule decides both colours at one threshold, but grey tracks score
otherwise, so each colour's door threshold is read off that colour's evidence only (bench/pad_cues.py
measures colour tracks, and with `--grey --card-rule` grey ones), and a colour without any reads unknown. It
holds only for the rule that scored it: evidence naming another rule's coefficients (a rule refit or edited
under it) is unknown, like no evidence at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gate.pad import ScoreKind
from recognition import PadAttackEvidence, PadTrackRule, PresentationAttackDetector, main_calibration_for

WEAKER_PAD_APCER_POINTS = 0.10
"""A door threshold gives up PAD when, for some species, the share of attacks it lets through exceeds the
card threshold's share by more than this (10 points). Both shares count the same stored attacks, so their
difference is the share of attacks scoring between the two thresholds: on 300 attacks a species (the sets
here) a difference of 0.10 is 30 attacks, and its sampling spread at that size is about 1.7 points (binomial,
p = 0.1), so 10 points is no accident of the set; a door a little laxer than the card (a few attacks apart)
does not warn. The simulated door at 1% gave up 56 to 75 points in colour (BENCHMARKS.md)."""

Colour = Literal["colour", "grey"]


@dataclass(frozen=True)
class SpeciesApcer:
    """One species of the card's attack evidence at the door's threshold and at the card's."""

    species: str
    attack_count: int
    apcer_at_door: float | None
    """Share let through at the door's threshold; None when the colour got no door threshold."""
    apcer_at_card: float

    @property
    def given_up(self) -> float:
        """How much more of this species the door's threshold lets through than the card's (0 without one)."""
        return 0.0 if self.apcer_at_door is None else self.apcer_at_door - self.apcer_at_card

    @property
    def is_given_up(self) -> bool:
        """Whether the door's threshold lets through more than WEAKER_PAD_APCER_POINTS more of it."""
        return self.given_up > WEAKER_PAD_APCER_POINTS + 1e-9  # 30 of 300 more is not more than 10 points


@dataclass(frozen=True)
class AttackComparison:
    """The card's attack evidence of one colour read at the door's threshold and at the card's."""

    dataset: str
    species: tuple[SpeciesApcer, ...]
    is_per_track: bool = False
    """The track rule's scores, one a track (as the door decides); else the nets', one a still."""

    @property
    def attacks_named(self) -> str:
        """What the attacks are: 'the card's attacks' (stills) or 'the track rule's attack tracks'."""
        return "the track rule's attack tracks" if self.is_per_track else "the card's attacks"

    @property
    def is_weaker(self) -> bool:
        """Whether the door's threshold gives up more than WEAKER_PAD_APCER_POINTS of some species."""
        return any(s.is_given_up for s in self.species)


def card_attack_evidence(
    detector: PresentationAttackDetector, *, colour: Colour, score_kind: ScoreKind
) -> tuple[PadAttackEvidence | None, str | None]:
    """The attack evidence that describes this colour's card threshold, or None and why there is none."""
    if score_kind == "track_rule":
        return _rule_attack_evidence(detector.track_rule, colour=colour)
    calibration, is_grey_main = main_calibration_for(
        detector.calibration, detector.grey_calibration, is_grayscale=colour == "grey"
    )
    if calibration is None:
        return None, "the card is uncalibrated (the authors' 0.5), with no attack scores"
    if colour == "grey" and not is_grey_main:
        return None, (
            "the card has no grey calibration (grey tracks keep its colour threshold), so no attack scores "
            "measured in grey; colour attacks score lower and would say nothing about grey ones"
        )
    if calibration.attack_evidence is None:
        return None, (
            f"the card's {colour} calibration ({calibration.dataset}) records no attack scores: it was made "
            "without `facegate pad calibrate --attacks`"
        )
    return calibration.attack_evidence, None


def _rule_attack_evidence(
    rule: PadTrackRule | None, *, colour: Colour
) -> tuple[PadAttackEvidence | None, str | None]:
    """The track rule's attack evidence of tracks of `colour` when this very rule scored it, or None and why
    not."""
    if rule is None or not rule.attack_evidence:
        return None, (
            "the door decides by the card's track rule, which records no attack scores (fitted before "
            "bench/pad_cues.py recorded its held-out attack tracks)"
        )
    evidence = rule.attack_evidence_for(colour)
    if evidence is None:
        other = rule.attack_evidence[0]
        return None, (
            f"the door decides by the card's track rule, whose attack tracks are {other.colour} "
            f"({other.dataset}); grey attacks score far higher than colour ones, so {other.colour} "
            f"attack tracks say nothing about {colour} ones"
        )
    if evidence.rule_sha256 != rule.rule_sha256:
        return None, (
            f"the door decides by the card's track rule {rule.rule_sha256[:12]}, whose attack scores were "
            f"recorded by rule {str(evidence.rule_sha256)[:12]} (other coefficients), so they say nothing "
            "about it"
        )
    return evidence, None


def compare_attacks(
    evidence: PadAttackEvidence, *, door_threshold: float | None, card_threshold: float
) -> AttackComparison:
    """APCER per species of `evidence` at the door's threshold (None: not calibrated) and the card's."""
    return AttackComparison(
        dataset=evidence.dataset,
        is_per_track=evidence.is_per_track,
        species=tuple(
            SpeciesApcer(
                species=entry.species,
                attack_count=entry.scored_count,
                apcer_at_door=None if door_threshold is None else entry.apcer_at(door_threshold),
                apcer_at_card=entry.apcer_at(card_threshold),
            )
            for entry in evidence.species
        ),
    )


def given_up_line(comparison: AttackComparison) -> str:
    """'screen_replay 89.33% against 14.00%, print ...': each species the door's threshold gives up."""
    return ", ".join(
        f"{s.species} {s.apcer_at_door:.2%} against {s.apcer_at_card:.2%} of {s.attack_count}"
        for s in comparison.species
        if s.is_given_up
    )
