"""The PAD card (`pad.json`): which ONNX nets score a face, their sha256, their source and calibration.

`facegate pad export` writes it beside the two ONNX files it converts from the pinned MiniFASNet state dicts
(C5: the ONNX files are pinned by the card, the card's sources by `MINIFASNET_SOURCES`); `facegate pad
calibrate` adds the attack-score thresholds at target BPCERs measured on bona fide photos, as `facegate
models calibrate` does for the match threshold, and with `--attacks` the scores of attack stills scored the
same way (attack_evidence.py), which say what APCER a threshold gives up. A face that fills its photo is
scored from another crop (edge-replicated, crop.py), whose scores a calibration on photos with background
does not describe, so such stills (enrollment headshots) may have a calibration of their own, one for grey
and one for colour photos (MiniFASNet scores grey live faces far higher than colour ones, so a grey
calibration is lax for colour photos); the gate never scores such frames. For the same reason the main
calibration comes per colour too: `calibration` holds colour frames and stills (and grey ones when there is
no other), `grey_calibration`, measured on photos turned grey, holds grey ones (a night/IR door camera, a
grey photo with background).

card_file.py reads, writes and finds it; thresholds.py chooses which of its calibrations holds a frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recognition.errors import ModelLoadError
from recognition.pad.attack_evidence import PadAttackEvidence, TrackColour

CALIBRATED_BPCERS = (0.01, 0.05, 0.1)


class PinnedSource(BaseModel):
    """A state dict the converter accepts: file name, sha256 (the data set's MANIFEST) and crop scale."""

    model_config = ConfigDict(frozen=True)
    variant: Literal["v2", "v1se"]
    filename: str
    sha256: str
    scale: float


MINIFASNET_SOURCES = (
    PinnedSource(
        variant="v2",
        filename="2.7_80x80_MiniFASNetV2.pth",
        sha256="a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
        scale=2.7,
    ),
    PinnedSource(
        variant="v1se",
        filename="4_0_0_80x80_MiniFASNetV1SE.pth",
        sha256="84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
        scale=4.0,
    ),
)


class PadNet(BaseModel):
    """One converted net: its ONNX file and the crop it takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    variant: Literal["v2", "v1se"]
    file: str = Field(pattern=r"^[^/\\]+\.onnx$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scale: float = Field(gt=1.0, description="The face box is widened by this factor around its centre.")
    input_side_px: int = Field(80, gt=0)
    live_class: int = Field(1, ge=0, description="Softmax index of the bona fide class.")
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class BpcerPoint(BaseModel):
    """At `attack_threshold` (attack score above it = attack), this share of bona fide photos is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bpcer: float = Field(gt=0.0, lt=1.0)
    attack_threshold: float = Field(ge=0.0, le=1.0)


SettingValue = str | bool | int | float | None


class PadCalibrationSource(BaseModel):
    """What it takes to measure a calibration again: the photos (a rule, their count and digest) and how
    they were cropped and detected (a threshold holds only for the crop it was measured with)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: str = Field(min_length=1, max_length=500, description="How the photos were chosen (selection.py).")
    photo_count: int = Field(gt=0, description="Photos selected, with or without a face found.")
    paths_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 over the sorted photo names (data folder name/relative path), one a line.",
    )
    crop: dict[str, SettingValue] = Field(description="The PAD config in effect (box correction, crop).")
    detector: dict[str, SettingValue] = Field(description="The face detector config in effect.")
    is_warp_padding_filled: bool = Field(
        False,
        description="Each photo's black warp border (deep-funnelled LFW) was inpainted before scoring; "
        "cards written before this was recorded did not fill it.",
    )
    is_grayscale: bool = Field(
        False,
        description="Each photo was converted to grey before scoring: thresholds for grey photos (a scanned "
        "archive), which MiniFASNet scores far higher than colour ones; cards written before: colour as is.",
    )


class PadCalibration(BaseModel):
    """Thresholds measured on a named set of bona fide photos."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: str
    bona_fide_count: int = Field(gt=0)
    points: tuple[BpcerPoint, ...]
    source: PadCalibrationSource | None = Field(
        None, description="How to reproduce it; cards calibrated before it was recorded have none."
    )
    attack_evidence: PadAttackEvidence | None = Field(
        None,
        description="Attack stills scored like these photos (`pad calibrate --attacks`), per species: what "
        "APCER a threshold gives up; None: calibrated without attacks (and every card before it existed). "
        "A track rule's attack tracks are its own, per colour (PadTrackRule.attack_evidence).",
    )

    def point_at(self, bpcer: float) -> BpcerPoint:
        """The calibrated point nearest `bpcer` from below (never a laxer BPCER).

        Raises:
            ModelLoadError: no calibrated target is at or below `bpcer`.
        """
        usable = self._points_at_or_below(bpcer)
        if not usable:
            raise ModelLoadError(
                f"PAD calibration on {self.dataset} has no point at BPCER <= {bpcer:g} "
                f"(calibrated: {', '.join(f'{p.bpcer:g}' for p in self.points)})"
            )
        return max(usable, key=lambda p: p.bpcer)

    def has_point_at(self, bpcer: float) -> bool:
        """Whether a calibrated target is at or below `bpcer` (`point_at` has a point for it)."""
        return bool(self._points_at_or_below(bpcer))

    def _points_at_or_below(self, bpcer: float) -> list[BpcerPoint]:
        return [p for p in self.points if p.bpcer <= bpcer + 1e-12]

    def threshold_at(self, bpcer: float) -> float:
        """The threshold of the calibrated point nearest `bpcer` from below (`point_at`)."""
        return self.point_at(bpcer).attack_threshold


class FaceFillCalibration(BaseModel):
    """A face-fill calibration and the colour of the photos it was measured on, the only stills it judges."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    is_grayscale: bool = Field(
        description="Measured on grey photos (channels equal, as scored) and holds grey stills only; "
        "false: measured on colour photos and holds colour stills only."
    )
    calibration: PadCalibration


PASSIVE_FEATURE = "passive"
"""The track rule's name for the mean passive attack score of the track's PAD frames."""


class PadTrackRule(BaseModel):
    """A fitted logistic rule over a track's passive score and cues, and its thresholds.

    score = sigmoid(intercept + Σ weight_i · (value_i − centre_i) / scale_i); a feature the track could not
    measure (a motion cue on a one-frame track) takes its centre, so it adds nothing either way.
    `calibration` holds thresholds on that score at target BPCERs, measured on the fit split's bona fide
    tracks; `fitted_on` says which data and command (bench/pad_cues.py writes the rule). The calibration's
    attack evidence, when there is one, holds the rule's scores on held-out attack tracks and names the rule
    that scored them (`rule_sha256`): it lives in the rule, so a refit writes a new one, and a rule whose
    coefficients were changed under it (the hash differs) is not judged on it (`pad calibrate-door`).

    Grey tracks (a night/IR camera) score otherwise: grey frames push the passive score of live faces up,
    so the colour thresholds refuse grey live tracks far above their targets. The rule may therefore hold a
    `grey_calibration`: thresholds on the same score (same coefficients, so `rule_sha256` is unchanged)
    measured on grey bona fide tracks (`bench/pad_cues.py --grey --card-rule --write-card`); the gate holds
    a wholly grey track to it, and to `calibration` without one (`calibration_for`). Its attack evidence
    comes per colour too (`attack_evidence`, at most one a colour, each recording the colour of its tracks
    as the gate recorded them): a door's grey tracks are read only off grey attack tracks. A card written
    before kept one evidence in the rule's calibration; it is read as that colour's (colour when it names
    none, attack_evidence.py).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    features: tuple[str, ...] = Field(min_length=1)
    centre: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    calibration: PadCalibration
    grey_calibration: PadCalibration | None = Field(
        None,
        description="Thresholds on the rule's score measured on grey bona fide tracks (every PAD frame "
        "grey), for a door's grey tracks; None (and every card before it existed): grey tracks are held to "
        "`calibration`.",
    )
    fitted_on: str = Field(min_length=1, max_length=500)
    attack_evidence: tuple[PadAttackEvidence, ...] = Field(
        (),
        description="The rule's scores on attack tracks it was not fitted on, per species, at most one "
        "evidence per colour of the tracks (bench/pad_cues.py --write-card); empty: none measured.",
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_evidence_in_calibration(cls, data: Any) -> Any:
        """A rule written before its evidence came per colour kept it in its calibration: move it over."""
        if not isinstance(data, dict) or not isinstance(data.get("calibration"), dict):
            return data
        calibration = dict(data["calibration"])
        legacy = calibration.pop("attack_evidence", None)
        if legacy is None:
            return data
        if data.get("attack_evidence"):
            raise ValueError("attack evidence both in the rule's calibration (a card before) and beside it")
        return {**data, "calibration": calibration, "attack_evidence": (legacy,)}

    @model_validator(mode="after")
    def _evidence_per_track_one_per_colour(self) -> PadTrackRule:
        calibrations = (self.calibration, self.grey_calibration)
        if any(c is not None and c.attack_evidence is not None for c in calibrations):
            raise ValueError("a track rule's attack evidence belongs in its attack_evidence, per colour")
        grey_source = None if self.grey_calibration is None else self.grey_calibration.source
        if grey_source is not None and not grey_source.is_grayscale:
            raise ValueError("the track rule's grey_calibration was measured on colour photos")
        if any(not evidence.is_per_track for evidence in self.attack_evidence):
            raise ValueError("a track rule's attack evidence is a rule's scores per track (rule_sha256)")
        colours = [evidence.colour for evidence in self.attack_evidence]
        if len(set(colours)) != len(colours):
            raise ValueError("at most one attack evidence per colour of tracks")
        return self

    def calibration_for(self, *, is_grey: bool) -> tuple[PadCalibration, bool]:
        """The thresholds that hold a track of this colour, and whether they are the grey ones: a wholly grey
        track's by `grey_calibration` when there is one, everything else by `calibration`."""
        if is_grey and self.grey_calibration is not None:
            return self.grey_calibration, True
        return self.calibration, False

    def attack_evidence_for(self, colour: TrackColour) -> PadAttackEvidence | None:
        """The rule's attack evidence measured on tracks of `colour`, or None."""
        return next((e for e in self.attack_evidence if e.colour == colour), None)

    @model_validator(mode="after")
    def _same_lengths(self) -> PadTrackRule:
        if not len(self.features) == len(self.centre) == len(self.scale) == len(self.weights):
            raise ValueError("features, centre, scale and weights must have one entry per feature")
        if any(scale <= 0 for scale in self.scale):
            raise ValueError("every scale must be positive")
        return self

    @property
    def rule_sha256(self) -> str:
        """One hex sha256 over what makes the rule's score (features, centre, scale, weights, intercept, in
        canonical JSON), not its thresholds or provenance: refit with other coefficients, it differs, so
        scores recorded under the old rule are not taken for the new one's."""
        coefficients = self.model_dump(
            mode="json", include={"features", "centre", "scale", "weights", "intercept"}
        )
        return hashlib.sha256(
            json.dumps(coefficients, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()

    def score(self, values: Mapping[str, float | None]) -> float:
        """The combined attack score (0..1) of one track from its feature values by name."""
        logit = self.intercept
        for name, centre, scale, weight in zip(
            self.features, self.centre, self.scale, self.weights, strict=True
        ):
            value = values.get(name)
            logit += 0.0 if value is None else weight * (value - centre) / scale
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))


class PadCard(BaseModel):
    """`pad.json`: the nets whose bona fide probabilities are averaged, their calibrations, the track rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model_id: str = Field(min_length=1, max_length=100)
    nets: tuple[PadNet, ...] = Field(min_length=1)
    calibration: PadCalibration | None = Field(
        None,
        description="Thresholds measured on colour photos with background: colour frames and stills, and "
        "grey ones when `grey_calibration` is None (the strict choice for them: grey scores run high).",
    )
    grey_calibration: PadCalibration | None = Field(
        None,
        description="Thresholds measured on the same kind of photos turned grey (`pad calibrate "
        "--grayscale`): grey frames (a night/IR door camera) and grey stills with background; None: they "
        "use `calibration`.",
    )
    face_fill_calibrations: tuple[FaceFillCalibration, ...] = Field(
        (),
        description="Thresholds measured only on photos whose face fills the frame (face-fill crop), at most "
        "one for grey and one for colour photos, for stills scored that way (enrollment) of the same colour; "
        "a still with none of its colour uses `calibration`. The gate never uses them.",
    )
    track_rule: PadTrackRule | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_face_fill(cls, data: object) -> object:
        """Read a card written before colours were told apart: its one `face_fill_calibration` holds the
        stills of the colour its source records (`is_grayscale`: the photos were scored in grey; no source,
        or false: colour as is), and no longer the other colour's."""
        if not isinstance(data, dict) or "face_fill_calibration" not in data:
            return data
        if "face_fill_calibrations" in data:
            raise ValueError(
                "face_fill_calibration (a card before colours) and face_fill_calibrations both set"
            )
        data = dict(data)
        legacy = data.pop("face_fill_calibration")
        if legacy is None:
            return data
        calibration = PadCalibration.model_validate(legacy)
        is_grayscale = calibration.source is not None and calibration.source.is_grayscale
        data["face_fill_calibrations"] = (
            FaceFillCalibration(is_grayscale=is_grayscale, calibration=calibration),
        )
        return data

    @model_validator(mode="before")
    @classmethod
    def _legacy_grey_main(cls, data: object) -> object:
        """Read a card written before the main calibration came per colour: its `calibration` is the colour
        one unless its source records grey photos (`pad calibrate --grayscale` wrote it there), in which case
        it becomes `grey_calibration` and colour frames are left uncalibrated (the authors' stricter 0.5)
        rather than held to a threshold measured on grey photos."""
        if not isinstance(data, dict) or not isinstance(data.get("calibration"), dict | PadCalibration):
            return data
        calibration = PadCalibration.model_validate(data["calibration"])
        if calibration.source is None or not calibration.source.is_grayscale:
            return data
        if data.get("grey_calibration") is not None:
            raise ValueError("calibration was measured on grey photos and grey_calibration is set too")
        return {**data, "calibration": None, "grey_calibration": calibration}

    @model_validator(mode="after")
    def _main_calibrations_by_colour(self) -> PadCard:
        grey_source = None if self.grey_calibration is None else self.grey_calibration.source
        if grey_source is not None and not grey_source.is_grayscale:
            raise ValueError("grey_calibration was measured on colour photos")
        return self

    @model_validator(mode="after")
    def _one_face_fill_per_colour(self) -> PadCard:
        colours = [entry.is_grayscale for entry in self.face_fill_calibrations]
        if len(set(colours)) != len(colours):
            raise ValueError("at most one face-fill calibration for grey photos and one for colour photos")
        return self

    @property
    def weights_sha256(self) -> str:
        """One hex sha256 for the whole card: over the nets' sha256 in card order."""
        return hashlib.sha256("".join(net.sha256 for net in self.nets).encode()).hexdigest()


def with_main_calibration(card: PadCard, calibration: PadCalibration, *, is_grayscale: bool) -> PadCard:
    """`card` with `calibration` as its main calibration for grey (`grey_calibration`) or colour
    (`calibration`) frames, the other colour's kept."""
    return card.model_copy(update={"grey_calibration" if is_grayscale else "calibration": calibration})


def with_face_fill_calibration(card: PadCard, entry: FaceFillCalibration) -> PadCard:
    """`card` with `entry` as its face-fill calibration for `entry`'s colour (the other colour's kept)."""
    kept = tuple(c for c in card.face_fill_calibrations if c.is_grayscale != entry.is_grayscale)
    ordered = tuple(sorted((*kept, entry), key=lambda c: not c.is_grayscale))
    return card.model_copy(update={"face_fill_calibrations": ordered})
