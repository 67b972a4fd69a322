"""The attack side of a PAD calibration: attack scores per species, to say what APCER a threshold gives up.

A calibration's thresholds come from bona fide photos only, so on their own they say nothing about attacks.
`facegate pad calibrate --attacks DIR` also scores the attack stills of DIR (`attack/<species>/`, as `pad
make-attacks` writes them) exactly as it scores the photos (same colour, crop and detector) and records
their scores with the calibration; `calibrate-door` then reads off the APCER at the door's threshold and at
the card's. The scores are kept sorted and whole up to MAX_STORED_SCORES a species (the benches here use
300 a species: APCER at any threshold is then exact, the count `facegate eval pad` gives on the same stills,
for about 20 characters a score in `pad.json`); a larger set keeps its order statistics at MAX_STORED_SCORES
evenly spaced ranks (every 0.1% of the ranks), which reads any APCER within 0.1 points and bounds the card.

The card's track rule carries evidence of the same form per track: bench/pad_cues.py scores the held-out
attack clips (tracks) with the rule it fits and records them with `rule_sha256`, the hash of the rule's
coefficients that scored them (track_rule.py, `with_track_attack_evidence`), so that a rule refit with other
coefficients is never judged on another rule's scores. Tracks, unlike stills, carry no calibration of their
colour, so that evidence records it (`colour`: grey or colour, as the gate tells a track's frames apart):
grey attacks score far higher than colour ones, so the rule keeps one evidence per colour
(`PadTrackRule.attack_evidence`) and `pad calibrate-door` reads each for a door's tracks of that colour only.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recognition.errors import EvaluationDataError

MAX_STORED_SCORES = 1001
"""Scores kept a species: all of them up to this many, else the order statistics at this many ranks."""

TrackColour = Literal["colour", "grey"]
"""A track's colour as the gate records it: grey when every PAD frame is grey (a night/IR camera)."""

LEGACY_TRACK_COLOUR: TrackColour = "colour"
"""What a track rule's evidence written before its colour was recorded was measured on. Its only writer,
bench/pad_cues.py, renders ORL's grey photos into colour scenes (background, hand, a display's white balance
or a paper's tint) with the same generator then as now: the gate records every such track as colour (0 grey
of 193 face frames on six people's clips), and grey faces rendered so score like colour attacks, not like
grey frames (BENCHMARKS.md, "The track rule's evidence is colour")."""


class AttackSpeciesScores(BaseModel):
    """One species' attack scores (attack score above a threshold = attack), sorted ascending."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    species: str = Field(min_length=1, max_length=100)
    scored_count: int = Field(
        gt=0, description="Attack presentations of this species scored (stills with a face, or tracks)."
    )
    detection_failures: int = Field(
        ge=0, description="Presentations of this species not scored (no face; a track PAD never scored)."
    )
    scores: tuple[float, ...] = Field(
        description="All scored_count scores sorted ascending, or, above MAX_STORED_SCORES, the order "
        "statistics at MAX_STORED_SCORES evenly spaced ranks (lowest and highest included)."
    )

    @model_validator(mode="after")
    def _sorted_and_sized(self) -> AttackSpeciesScores:
        expected = min(self.scored_count, MAX_STORED_SCORES)
        if len(self.scores) != expected:
            raise ValueError(f"{self.species}: {len(self.scores)} scores stored, expected {expected}")
        if any(not 0.0 <= s <= 1.0 for s in self.scores):
            raise ValueError(f"{self.species}: attack scores must lie in [0, 1]")
        if any(a > b for a, b in zip(self.scores, self.scores[1:], strict=False)):
            raise ValueError(f"{self.species}: scores must be sorted ascending")
        return self

    @property
    def is_exact(self) -> bool:
        """Whether every score is kept (APCER exact), not order statistics."""
        return len(self.scores) == self.scored_count

    def apcer_at(self, threshold: float) -> float:
        """The share of this species' attacks classified bona fide (score at or below `threshold`)."""
        return bisect.bisect_right(self.scores, threshold) / len(self.scores)


class PadAttackEvidence(BaseModel):
    """Attack presentations scored like a calibration's bona fide ones, per species: what its thresholds let
    through. Stills scored by the nets (a passive calibration), or tracks scored by a track rule (per track,
    `rule_sha256` naming the rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: str = Field(min_length=1, max_length=500, description="What the attacks are and whence.")
    paths_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 over the sorted still or clip names (species/relative path), one a line.",
    )
    species: tuple[AttackSpeciesScores, ...] = Field(min_length=1)
    rule_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The track rule whose scores these are, one a track (PadTrackRule.rule_sha256: its "
        "coefficients); None: stills scored by the nets (and all evidence written before it was recorded).",
    )
    colour: TrackColour | None = Field(
        None,
        description="A track rule's evidence: the colour of its attack tracks as the gate records them "
        "(grey: every PAD frame grey), the only doors' tracks it describes; written before it was recorded: "
        "colour (LEGACY_TRACK_COLOUR). None: stills scored by the nets, whose colour is their calibration's.",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_track_colour(cls, data: Any) -> Any:
        """A track rule's evidence written before it recorded its colour was measured on colour tracks."""
        if isinstance(data, dict) and data.get("rule_sha256") is not None and "colour" not in data:
            return {**data, "colour": LEGACY_TRACK_COLOUR}
        return data

    @model_validator(mode="after")
    def _one_entry_per_species(self) -> PadAttackEvidence:
        names = [entry.species for entry in self.species]
        if len(set(names)) != len(names):
            raise ValueError("one entry per attack species")
        if (self.colour is None) != (self.rule_sha256 is None):
            raise ValueError("a track rule's evidence records its tracks' colour, stills' evidence does not")
        return self

    @property
    def is_per_track(self) -> bool:
        """Whether the scores are a track rule's, one a track (else the nets', one a still)."""
        return self.rule_sha256 is not None

    def apcer_at(self, threshold: float) -> dict[str, float]:
        """APCER per species at `threshold` (share of each species' scored attacks let through)."""
        return {entry.species: entry.apcer_at(threshold) for entry in self.species}


def stored_scores(scores: Sequence[float]) -> tuple[float, ...]:
    """`scores` sorted, whole up to MAX_STORED_SCORES, else their order statistics at that many ranks."""
    ordered = sorted(float(s) for s in scores)
    if len(ordered) <= MAX_STORED_SCORES:
        return tuple(ordered)
    last = len(ordered) - 1
    return tuple(ordered[round(i * last / (MAX_STORED_SCORES - 1))] for i in range(MAX_STORED_SCORES))


def attack_evidence(
    scores: Mapping[str, Sequence[float]],
    detection_failures: Mapping[str, int],
    *,
    dataset: str,
    paths_sha256: str,
    rule_sha256: str | None = None,
    colour: TrackColour | None = None,
) -> PadAttackEvidence:
    """The evidence from each species' attack scores (a species with none scored is left out); with
    `rule_sha256`, the scores of that track rule, one a track, on tracks of `colour` (then required).

    Raises:
        EvaluationDataError: no species has a scored attack, or `colour` is given without `rule_sha256`
            or missing with it.
    """
    entries = tuple(
        AttackSpeciesScores(
            species=species,
            scored_count=len(values),
            detection_failures=detection_failures.get(species, 0),
            scores=stored_scores(values),
        )
        for species, values in sorted(scores.items())
        if values
    )
    if not entries:
        raise EvaluationDataError("no attack presentation was scored: no attack evidence to record")
    if (colour is None) != (rule_sha256 is None):
        raise EvaluationDataError(
            "a track rule's attack tracks need their colour; stills take their calibration's"
        )
    return PadAttackEvidence(
        dataset=dataset, paths_sha256=paths_sha256, species=entries, rule_sha256=rule_sha256, colour=colour
    )
