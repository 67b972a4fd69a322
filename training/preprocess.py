"""Detect and align every training photo once, with the product's own detector and `align_face` (D3).

The crops are cached as PNG under `cache_dir/<identity>/`, so training crops are the crops the door
sees, and later runs skip detection. Photos that give no crop are listed with the reason in
`cache_dir/skipped.tsv`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

from recognition import ALIGNED_SIZE_PX, BgrImage, ImageError, Recognizer, align_face, image_suffixes
from training.errors import DatasetError

logger = logging.getLogger(__name__)

DONE_FILE = "crops.json"
SKIPPED_FILE = "skipped.tsv"


@dataclass(frozen=True)
class CropSet:
    """Aligned 112×112 crops by identity folder name, and the photos that gave none (with the reason)."""

    crops: dict[str, tuple[Path, ...]]
    skipped: tuple[tuple[Path, str], ...]


def identity_photos(data_dir: Path) -> dict[str, list[Path]]:
    """Photos of each identity subfolder (the files of `recognition.image_suffixes()`), sorted by name.

    Raises:
        DatasetError: the folder is missing or has no identity subfolders with photos.
    """
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: not a directory of identity subfolders")
    photos = {
        folder.name: sorted(p for p in folder.iterdir() if p.suffix.lower() in image_suffixes())
        for folder in sorted(data_dir.iterdir())
        if folder.is_dir()
    }
    photos = {name: paths for name, paths in photos.items() if paths}
    if not photos:
        raise DatasetError(f"{data_dir}: no identity subfolders with photos")
    return photos


def aligned_crop_set(data_dir: Path) -> CropSet:
    """Use an already-aligned dataset in place: every photo must be 112×112 (others are skipped)."""
    crops: dict[str, tuple[Path, ...]] = {}
    skipped: list[tuple[Path, str]] = []
    for name, paths in identity_photos(data_dir).items():
        kept = []
        for path in paths:
            image = cv2.imread(str(path))
            if image is None or image.shape[:2] != (ALIGNED_SIZE_PX, ALIGNED_SIZE_PX):
                skipped.append((path, "not a 112×112 aligned crop"))
                continue
            kept.append(path)
        crops[name] = tuple(kept)
    return CropSet(crops=crops, skipped=tuple(skipped))


def _largest_face_crop(recognizer: Recognizer, path: Path) -> tuple[BgrImage | None, str]:
    try:
        image = recognizer.decode(path.read_bytes())
    except (OSError, ImageError) as exc:
        return None, f"unreadable: {exc}"
    faces = recognizer.detect(image)
    if not faces:
        return None, "no face detected"
    face = max(faces, key=lambda f: f.width_px * f.height_px)
    return align_face(image, face.landmarks), ""


def detect_and_align(
    recognizer: Recognizer, data_dir: Path, cache_dir: Path, *, on_photo: Callable[[], None] | None = None
) -> CropSet:
    """Align the largest face of every photo into `cache_dir`, or reuse a finished cache.

    Args:
        recognizer: the configured pipeline; only its `decode`, `detect` and the shared `align_face` are used.
        data_dir: identity subfolders of photos.
        cache_dir: where `<identity>/<photo stem>.png` crops and `skipped.tsv` are written.
        on_photo: called after each photo (tests); a progress bar is shown otherwise.
    """
    if (cache_dir / DONE_FILE).is_file():
        logger.info("reusing the aligned crops in %s", cache_dir)
        return _read_cache(cache_dir)
    photos = identity_photos(data_dir)
    skipped: list[tuple[Path, str]] = []
    total = sum(len(paths) for paths in photos.values())
    with tqdm(total=total, desc="detect+align", unit="photo", disable=on_photo is not None) as bar:
        for name, paths in photos.items():
            (cache_dir / name).mkdir(parents=True, exist_ok=True)
            for path in paths:
                crop, reason = _largest_face_crop(recognizer, path)
                if crop is None:
                    skipped.append((path, reason))
                else:
                    cv2.imwrite(str(cache_dir / name / f"{path.stem}.png"), crop)
                bar.update()
                if on_photo is not None:
                    on_photo()
    (cache_dir / SKIPPED_FILE).write_text("".join(f"{path}\t{reason}\n" for path, reason in skipped))
    (cache_dir / DONE_FILE).write_text(json.dumps({"source": str(data_dir), "photos": total}) + "\n")
    for path, reason in skipped:
        logger.warning("skipped %s: %s", path, reason)
    return _read_cache(cache_dir)


def _read_cache(cache_dir: Path) -> CropSet:
    crops = {
        folder.name: tuple(sorted(folder.glob("*.png")))
        for folder in sorted(cache_dir.iterdir())
        if folder.is_dir()
    }
    lines = (cache_dir / SKIPPED_FILE).read_text().splitlines()
    skipped = tuple((Path(path), reason) for path, reason in (line.split("\t", 1) for line in lines))
    return CropSet(crops=crops, skipped=skipped)
