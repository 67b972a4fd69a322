"""The simulated-attack generator: reproducible, door-camera sized, and its faces still detectable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from recognition import (
    ATTACK_SPECIES,
    FRAME_CUES,
    Recognizer,
    attack_still,
    attack_video,
    bona_fide_video,
    pose_sweep_video,
)
from recognition.evaluation.attacks import print_artefact, screen_artefact
from tests.data import knn_examples, shared_faces


def _photo(recognizer: Recognizer) -> np.ndarray:
    """A head-and-shoulders photo: a knn example cut around its face (the face about 40% of it)."""
    path = sorted((knn_examples() / "train" / "biden").glob("*.jpg"))[0]
    image = recognizer.decode(path.read_bytes())
    x1, y1, x2, y2 = recognizer.detect(image)[0].bbox
    pad_x, pad_y = (x2 - x1) * 3 // 4, (y2 - y1) * 3 // 4
    return image[max(0, y1 - pad_y) : y2 + pad_y, max(0, x1 - pad_x) : x2 + pad_x].copy()


@pytest.mark.model
@pytest.mark.parametrize("species", ATTACK_SPECIES)
def test_a_seed_reproduces_the_attack_and_its_face_is_found(recognizer: Recognizer, species: str) -> None:
    photo = _photo(recognizer)
    first = attack_still(photo, species, np.random.default_rng(7))
    again = attack_still(photo, species, np.random.default_rng(7))
    other = attack_still(photo, species, np.random.default_rng(8))
    assert first.shape == (480, 640, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    attacks = [attack_still(photo, species, np.random.default_rng(seed)) for seed in range(4)]
    found = sum(bool(recognizer.detect(attack)) for attack in attacks)
    assert found >= 3, f"{species}: a face in only {found} of 4 attacks"


@pytest.mark.model
def test_a_screen_shows_a_pixel_grid_and_a_print_a_paper_border(recognizer: Recognizer) -> None:
    photo = _photo(recognizer)
    screen = screen_artefact(photo, np.random.default_rng(1)).image.astype(np.float32)
    inner = screen[40:-40, 40:-40]
    # The sub-pixel stripes repeat every 3 columns: the red channel's column means alternate strongly.
    red_columns = inner[:, :, 2].mean(axis=0)
    period_3 = np.abs(np.fft.rfft(red_columns - red_columns.mean()))
    assert period_3[len(red_columns) // 3 - 2 : len(red_columns) // 3 + 3].max() > 5 * np.median(period_3)
    sheet = print_artefact(photo, np.random.default_rng(1)).image
    assert sheet[:, :5].mean() > 150 and sheet[:, :5].std() < 25  # the white paper edge


@pytest.mark.model
def test_videos_have_the_requested_frames_and_move(recognizer: Recognizer) -> None:
    photo = _photo(recognizer)
    for clip in (
        attack_video(photo, "screen_replay", np.random.default_rng(3), frames=5),
        bona_fide_video(photo, np.random.default_rng(3), frames=5),
    ):
        assert len(clip) == 5 and all(frame.shape == (480, 640, 3) for frame in clip)
        assert not np.array_equal(clip[0], clip[-1])


@pytest.mark.model
def test_a_pose_sweep_is_reproducible_shows_a_face_in_every_frame_and_no_pasted_edge(
    recognizer: Recognizer,
) -> None:
    orl = shared_faces() / "orl-att-faces" / "att_faces" / "s7"
    poses = [np.asarray(cv2.imread(str(orl / f"{n}.pgm"), cv2.IMREAD_COLOR), np.uint8) for n in range(1, 11)]

    clip = pose_sweep_video(poses, np.random.default_rng(4), frames=6)

    assert all(
        np.array_equal(a, b)
        for a, b in zip(clip, pose_sweep_video(poses, np.random.default_rng(4), frames=6), strict=True)
    )
    assert all(frame.shape == (480, 640, 3) and frame.dtype == np.uint8 for frame in clip)
    faces = [recognizer.detect(frame) for frame in clip]
    assert all(len(found) == 1 for found in faces)
    assert (
        max(FRAME_CUES["frame_edges"](frame, found[0]) for frame, found in zip(clip, faces, strict=True))
        < 0.2
    )
