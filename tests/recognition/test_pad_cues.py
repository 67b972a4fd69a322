"""PAD track cues on real photos, and the track rule's fit against a brute-force check of its optimum."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from gate import PAD_CUE_NAMES
from recognition import (
    CUE_NAMES,
    FRAME_CUES,
    PASSIVE_FEATURE,
    TRACK_CUES,
    BgrImage,
    DetectedFace,
    EvaluationDataError,
    Recognizer,
    attack_still,
    fill_warp_padding,
    fit_track_rule,
    names_sha256,
    threshold_at_bpcer,
    warp_padding_mask,
    with_track_attack_evidence,
    with_track_grey_calibration,
)
from tests.data import encode_jpeg, knn_examples, shared_faces


def _faced(recognizer: Recognizer, frames: list[BgrImage]) -> list[tuple[BgrImage, DetectedFace]]:
    found = [(frame, recognizer.detect(frame)) for frame in frames]
    return [(frame, faces[0]) for frame, faces in found if faces]


def _head_and_shoulders(recognizer: Recognizer) -> BgrImage:
    """A knn example cut around its face (the face about 40% of it), 400 px tall."""
    path = sorted((knn_examples() / "train" / "biden").glob("*.jpg"))[0]
    image = recognizer.decode(path.read_bytes())
    x1, y1, x2, y2 = recognizer.detect(image)[0].bbox
    pad_x, pad_y = (x2 - x1) * 3 // 4, (y2 - y1) * 3 // 4
    crop = image[max(0, y1 - pad_y) : y2 + pad_y, max(0, x1 - pad_x) : x2 + pad_x]
    scale = 400 / crop.shape[0]
    return np.asarray(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8)


def test_the_gate_offers_exactly_the_cues_recognition_has() -> None:
    assert set(PAD_CUE_NAMES) == set(CUE_NAMES) == {*FRAME_CUES, *TRACK_CUES}


@pytest.mark.model
def test_a_plane_moving_in_perspective_stays_planar_and_a_head_turning_does_not(
    recognizer: Recognizer,
) -> None:
    photo = _head_and_shoulders(recognizer)
    height, width = photo.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    planar = []
    for step in range(3):  # a held photo: sliding right, tilting away on its left side
        shift = 6.0 * step
        moved = corners + np.float32(
            [[shift, 2 * shift], [shift, 0], [shift, height * 0], [shift, -2 * shift]]
        )
        moved += np.float32([120, 40])
        warp = cv2.getPerspectiveTransform(corners, moved)
        planar.append(cv2.warpPerspective(photo, warp, (640, 480), borderValue=(128, 128, 128)))
    orl = shared_faces() / "orl-att-faces" / "att_faces" / "s1"
    turning = []
    for number in (1, 2, 3):  # one person's first three ORL photos: the head turned a little differently
        pose = cv2.imread(str(orl / f"{number}.pgm"), cv2.IMREAD_COLOR)
        pose = cv2.resize(pose, None, fx=3.5, fy=3.5, interpolation=cv2.INTER_CUBIC)
        frame = np.full((480, 640, 3), 128, np.uint8)
        frame[44 : 44 + pose.shape[0], 150 : 150 + pose.shape[1]] = pose
        turning.append(frame)

    planar_share = TRACK_CUES["flow_planar"](_faced(recognizer, planar))
    turning_share = TRACK_CUES["flow_planar"](_faced(recognizer, turning))

    assert planar_share is not None and turning_share is not None
    assert planar_share > 0.95 > 0.85 > turning_share


@pytest.mark.model
@pytest.mark.parametrize("species", ["screen_replay", "print"])
def test_the_edge_of_a_phone_or_paper_is_found_around_the_face_and_not_around_a_plain_photo(
    recognizer: Recognizer, species: str
) -> None:
    photo = _head_and_shoulders(recognizer)  # the camera's own view: curtain folds beside the face, no frame
    held_up = [attack_still(photo, species, np.random.default_rng(seed)) for seed in range(3)]

    plain = FRAME_CUES["frame_edges"](*_faced(recognizer, [photo])[0])
    framed = [FRAME_CUES["frame_edges"](frame, face) for frame, face in _faced(recognizer, held_up)]

    assert len(framed) == 3 and min(framed) > 0.8 > 0.6 > plain


def _objective(beta: np.ndarray, design: np.ndarray, labels: np.ndarray, l2: float) -> float:
    """The penalised negative log-likelihood the fit minimises (intercept not penalised)."""
    logits = design @ beta
    nll = float(np.sum(np.logaddexp(0.0, logits) - labels * logits))
    return nll + 0.5 * l2 * float(np.sum(beta[1:] ** 2))


def test_the_fitted_rule_is_the_penalised_optimum_and_its_thresholds_hold_on_its_bona_fide_rows() -> None:
    rng = np.random.default_rng(0)
    is_attack = [bool(i % 2) for i in range(240)]
    rows: list[dict[str, float | None]] = [
        {
            PASSIVE_FEATURE: float(rng.normal(0.6 if a else 0.4, 0.2)),
            "frame_edges": float(rng.normal(0.5 if a else 0.1, 0.2)),
        }
        for a in is_attack
    ]
    rows[0]["frame_edges"] = None

    rule = fit_track_rule(
        rows, is_attack, features=[PASSIVE_FEATURE, "frame_edges"], fitted_on="synthetic", l2=1.0
    )

    values = np.array([[r[PASSIVE_FEATURE], r["frame_edges"]] for r in rows], dtype=np.float64)
    centre, scale = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
    standard = np.where(np.isnan(values), 0.0, (values - np.asarray(centre)) / scale)
    design = np.hstack([np.ones((len(rows), 1)), standard])
    labels = np.asarray(is_attack, np.float64)
    beta = np.array([rule.intercept, *rule.weights])
    best = _objective(beta, design, labels, 1.0)
    for axis in range(3):
        for step in (-1e-3, 1e-3):
            nudged = beta.copy()
            nudged[axis] += step
            assert _objective(nudged, design, labels, 1.0) > best
    assert rule.weights[1] > rule.weights[0] > 0
    assert rule.score(rows[0]) == pytest.approx(
        1 / (1 + math.exp(-(rule.intercept + rule.weights[0] * standard[0, 0]))), abs=1e-12
    )
    bona = [rule.score(r) for r, a in zip(rows, is_attack, strict=True) if not a]
    for point in rule.calibration.points:
        assert np.mean([s > point.attack_threshold for s in bona]) <= point.bpcer


def _rows(rng: np.random.Generator, count: int, *, is_attack: bool) -> list[dict[str, float | None]]:
    return [
        {
            PASSIVE_FEATURE: float(rng.normal(0.6 if is_attack else 0.4, 0.2)),
            "frame_edges": float(rng.normal(0.5 if is_attack else 0.1, 0.2)),
        }
        for _ in range(count)
    ]


def test_the_rules_attack_evidence_is_its_own_score_on_each_attack_track_bound_to_its_coefficients() -> None:
    """Per species the rule's score on every attack track (brute force), sorted; the rule's hash and the
    tracks' colour recorded, its thresholds and provenance kept; evidence of the other colour is kept beside
    it, one of the same colour replaced; a refit has other coefficients and none of the old evidence."""
    rng = np.random.default_rng(5)
    rows = _rows(rng, 60, is_attack=False) + _rows(rng, 60, is_attack=True)
    is_attack = [False] * 60 + [True] * 60
    rule = fit_track_rule(rows, is_attack, features=[PASSIVE_FEATURE, "frame_edges"], fitted_on="synthetic")
    attacks = {"print": _rows(rng, 7, is_attack=True), "screen_replay": _rows(rng, 5, is_attack=True)}
    attacks["print"][0]["frame_edges"] = None  # not measured: the rule takes the centre, as the gate does
    names = names_sha256(["print/a.avi", "screen_replay/b.avi"])

    measured = with_track_attack_evidence(
        rule,
        attacks,
        {"print": 1, "screen_replay": 0},
        dataset="held-out tracks",
        paths_sha256=names,
        colour="grey",
    )

    (evidence,) = measured.attack_evidence
    assert evidence.is_per_track
    assert (evidence.rule_sha256, evidence.dataset, evidence.paths_sha256, evidence.colour) == (
        rule.rule_sha256,
        "held-out tracks",
        names,
        "grey",
    )
    for entry in evidence.species:
        by_hand = []
        for row in attacks[entry.species]:
            logit = rule.intercept
            for name, centre, scale, weight in zip(
                rule.features, rule.centre, rule.scale, rule.weights, strict=True
            ):
                logit += 0.0 if row[name] is None else weight * (row[name] - centre) / scale  # type: ignore[operator]
            by_hand.append(1 / (1 + math.exp(-logit)))
        assert entry.scores == pytest.approx(sorted(by_hand), abs=1e-12)
        assert entry.scored_count == len(attacks[entry.species])
    assert [e.detection_failures for e in evidence.species] == [1, 0]
    assert measured.rule_sha256 == rule.rule_sha256
    assert measured.model_dump(exclude={"attack_evidence"}) == rule.model_dump(exclude={"attack_evidence"})
    again = {"print": attacks["print"][:2]}
    both = with_track_attack_evidence(
        measured, again, {}, dataset="colour tracks", paths_sha256=names, colour="colour"
    )
    assert [(e.colour, e.dataset) for e in both.attack_evidence] == [
        ("colour", "colour tracks"),
        ("grey", "held-out tracks"),
    ]
    replaced = with_track_attack_evidence(
        both, again, {}, dataset="grey again", paths_sha256=names, colour="grey"
    )
    assert [(e.colour, e.dataset) for e in replaced.attack_evidence] == [
        ("colour", "colour tracks"),
        ("grey", "grey again"),
    ]
    refit = fit_track_rule(
        rows[::2], is_attack[::2], features=[PASSIVE_FEATURE, "frame_edges"], fitted_on="x"
    )
    assert refit.rule_sha256 != rule.rule_sha256 and refit.attack_evidence == ()


def test_the_rules_grey_calibration_is_its_own_score_on_grey_bona_fide_tracks_coefficients_untouched() -> (
    None
):
    """Thresholds on the same score (brute force over the grey rows' scores: at most floor(target × n)
    above each), nothing else of the rule changed (its hash, colour thresholds, evidence); too few grey
    tracks for a threshold at BPCER 10% are refused."""
    rng = np.random.default_rng(7)
    rows = _rows(rng, 60, is_attack=False) + _rows(rng, 60, is_attack=True)
    rule = fit_track_rule(
        rows, [False] * 60 + [True] * 60, features=[PASSIVE_FEATURE, "frame_edges"], fitted_on="synthetic"
    )
    rule = with_track_attack_evidence(
        rule, {"print": rows[60:70]}, {}, dataset="held-out", paths_sha256="a" * 64, colour="grey"
    )
    grey = [{**row, PASSIVE_FEATURE: min(1.0, (row[PASSIVE_FEATURE] or 0.0) + 0.5)} for row in rows[:40]]
    grey = grey + _rows(rng, 80, is_attack=False)

    calibrated = with_track_grey_calibration(rule, grey, dataset="grey fit tracks")

    assert calibrated.rule_sha256 == rule.rule_sha256
    assert calibrated.model_dump(exclude={"grey_calibration"}) == rule.model_dump(
        exclude={"grey_calibration"}
    )
    calibration = calibrated.grey_calibration
    assert calibration is not None and calibration.dataset == "120 grey bona fide tracks of grey fit tracks"
    scores = [rule.score(row) for row in grey]
    assert [p.bpcer for p in calibration.points] == [0.01, 0.05, 0.1] and calibration.bona_fide_count == 120
    for point in calibration.points:
        above = sum(score > point.attack_threshold for score in scores)
        assert (
            above
            <= math.floor(point.bpcer * len(scores))
            < above + sum(score == point.attack_threshold for score in scores)
        )
        assert point.attack_threshold == threshold_at_bpcer(scores, point.bpcer)
    with pytest.raises(EvaluationDataError, match="cannot measure a BPCER"):
        with_track_grey_calibration(rule, grey[:9], dataset="too few")


@pytest.mark.model
def test_filling_a_warped_photos_black_padding_removes_the_frame_it_drew_around_the_face(
    recognizer: Recognizer,
) -> None:
    photo = _head_and_shoulders(recognizer)
    height, width = photo.shape[:2]
    warp = cv2.getRotationMatrix2D((width / 2, height / 2), 8.0, 0.8)  # as deep funnelling aligns LFW
    inside = cv2.warpAffine(np.ones((height, width), np.uint8), warp, (width, height))
    padded = recognizer.decode(encode_jpeg(cv2.warpAffine(photo, warp, (width, height))))
    mirrored = cv2.warpAffine(photo, warp, (width, height), borderMode=cv2.BORDER_REFLECT)  # no border drawn
    frame, face = _faced(recognizer, [padded])[0]

    mask = warp_padding_mask(padded)
    filled = fill_warp_padding(padded)

    overlap = np.logical_and(mask == 1, inside == 0).sum() / np.logical_or(mask == 1, inside == 0).sum()
    assert overlap > 0.9
    framed, unframed, own = (
        FRAME_CUES["frame_edges"](image, face)
        for image in (frame, filled, recognizer.decode(encode_jpeg(mirrored)))
    )
    assert abs(unframed - own) < 0.05  # what is left are the photo's own edges (curtain folds)
    assert framed > own + 0.15
    plain_face = _faced(recognizer, [photo])[0][1]  # a black suit in a corner may be filled: no edge added
    plain, refilled = (FRAME_CUES["frame_edges"](p, plain_face) for p in (photo, fill_warp_padding(photo)))
    assert abs(refilled - plain) < 0.05
