"""Photos → aligned crops with the product's own detector, once; photos without a face are named with why."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from recognition import Recognizer  # noqa: E402
from tests.data import knn_examples, no_face_photos  # noqa: E402
from training.preprocess import aligned_crop_set, detect_and_align, identity_photos  # noqa: E402

pytestmark = pytest.mark.model


def test_every_face_is_aligned_once_and_a_photo_without_one_is_skipped_with_the_reason(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "people"
    shutil.copytree(knn_examples() / "train", data_dir)
    no_face = no_face_photos()[0]
    shutil.copy(no_face, data_dir / "obama" / no_face.name)
    photos = sorted(p for p in data_dir.glob("*/*") if p.is_file())
    seen: list[int] = []
    crops = detect_and_align(recognizer, data_dir, tmp_path / "cache", on_photo=lambda: seen.append(1))
    assert len(seen) == len(photos)
    assert crops.skipped == ((data_dir / "obama" / no_face.name, "no face detected"),)
    assert {name: len(paths) for name, paths in crops.crops.items()} == {
        folder.name: len([p for p in folder.iterdir() if p.name != no_face.name])
        for folder in data_dir.iterdir()
    }
    for path in (p for paths in crops.crops.values() for p in paths):
        assert cv2.imread(str(path)).shape == (112, 112, 3)
    again = detect_and_align(recognizer, data_dir, tmp_path / "cache", on_photo=lambda: seen.append(1))
    assert again == crops and len(seen) == len(photos), "the cache is reused: no photo is detected twice"


def test_an_aligned_dataset_is_used_in_place_and_other_sizes_are_skipped(tmp_path: Path) -> None:
    data_dir = tmp_path / "aligned"
    (data_dir / "a").mkdir(parents=True)
    source = next((knn_examples() / "train" / "obama").glob("*.jpg"))
    image = cv2.imread(str(source))
    cv2.imwrite(str(data_dir / "a" / "crop.png"), cv2.resize(image, (112, 112)))
    cv2.imwrite(str(data_dir / "a" / "photo.png"), image)
    crops = aligned_crop_set(data_dir)
    assert crops.crops == {"a": (data_dir / "a" / "crop.png",)}
    assert crops.skipped == ((data_dir / "a" / "photo.png", "not a 112×112 aligned crop"),)


def test_identity_folders_give_every_photo_suffix_a_folder_reader_takes(tmp_path: Path) -> None:
    # Training kept a list of its own (.jpg .jpeg .png .bmp .webp .pgm .ppm): an identity's .gif, .tif,
    # .jfif or .jpe photos were left out of its crops.
    for name in ("a.gif", "b.TIF", "c.jfif", "d.jpe", "e.jpg", "f.pbm", "notes.txt", "g.ico"):
        (tmp_path / "ann" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "ann" / name).write_bytes(b"")

    photos = identity_photos(tmp_path)

    assert [path.name for path in photos["ann"]] == ["a.gif", "b.TIF", "c.jfif", "d.jpe", "e.jpg", "f.pbm"]
