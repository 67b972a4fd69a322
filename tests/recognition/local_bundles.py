"""Helpers shared by the bundle-runtime tests: a bundle description for a file in tmp_path, and
aligned crops of real labelled photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recognition import BundleSearch, Recognizer, align_face, find_bundle, sha256_of, write_bundle_file
from tests.data import knn_examples

LOCAL_BUNDLE = "local-test-bundle"
# Single-face photos of the knn_examples test folder and whose they are.
_TEST_PHOTO_PEOPLE = {
    "alex_lacamoire1.jpg": "alex_lacamoire",
    "johnsnow_test1.jpg": "kit_harington",
    "obama1.jpg": "obama",
}


def local_bundle(
    directory: Path, weights: Path, *, like: str, changes: dict[str, Any] | None = None
) -> BundleSearch:
    """Write `directory/bundle.json`: built-in bundle `like` with `changes`, renamed LOCAL_BUNDLE, naming
    `weights` with its real sha256 (so loading reaches the runtime); returns the search that finds it."""
    bundle = find_bundle(like, BundleSearch()).bundle
    local = bundle.model_copy(
        update={
            "name": LOCAL_BUNDLE,
            "weights_file": weights.name,
            "weights_sha256": sha256_of(weights),
            **(changes or {}),
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    write_bundle_file(local, directory / "bundle.json")
    return BundleSearch(bundle_dirs=(directory,), model_dir=weights.parent)


def labelled_aligned_crops(recognizer: Recognizer) -> list[tuple[str, np.ndarray]]:
    """(person, 112×112 aligned crop) for every single-person photo of face_recognition's knn_examples."""
    root = knn_examples()
    photos = [(path.parent.name, path) for path in sorted((root / "train").glob("*/*"))]
    photos += [(person, root / "test" / name) for name, person in _TEST_PHOTO_PEOPLE.items()]
    crops = []
    for person, path in photos:
        image = recognizer.decode(path.read_bytes())
        faces = recognizer.detect(image)
        assert len(faces) == 1, path
        crops.append((person, align_face(image, faces[0].landmarks)))
    return crops
