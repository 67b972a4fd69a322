"""Photos for `facegate demo`: who to enroll and which scenes to show the gate, with ground truth."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from enrollment import Photo
from recognition import BgrImage, Recognizer, attack_still

KNN_ENROLLED = ("obama", "biden", "kit_harington", "rose_leslie")
PHONE_SCENE_SEED = 4
"""Which rendering of the phone-replay generator (recognition/evaluation/attacks.py) the demo shows. Chosen:
5 of the first 6 renderings of obama1.jpg score above the authors' 0.5, this one highest (0.914); over
many photos far more attacks pass (BENCHMARKS.md), so the scene shows the mechanism, not the accuracy."""


@dataclass(frozen=True)
class Scene:
    """One still shown to the camera, and what a correct gate decides for it."""

    label: str
    image: BgrImage
    expected_granted: frozenset[str]
    expected_unknown: int
    expected_attacks: int = 0
    """Tracks the gate must deny as presentation_attack (the scene needs the PAD model)."""


@dataclass(frozen=True)
class DemoData:
    description: str
    enroll: dict[str, list[Photo]]
    scenes: list[Scene] = field(default_factory=list)


def _read(path: Path) -> BgrImage:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read demo photo {path}")
    return np.asarray(image, dtype=np.uint8)


def knn_examples_data(faces_dir: Path) -> DemoData | None:
    """face_recognition's knn_examples: enroll four people from train/, present test/ and two strangers."""
    root = faces_dir / "face-recognition-examples" / "examples"
    knn = root / "knn_examples"
    if not knn.is_dir():
        return None
    enroll = {
        name: [Photo(name=p.name, data=p.read_bytes()) for p in sorted((knn / "train" / name).iterdir())]
        for name in KNN_ENROLLED
    }
    test = knn / "test"
    scenes = [
        Scene("obama1.jpg (enrolled)", _read(test / "obama1.jpg"), frozenset({"obama"}), 0),
        Scene(
            "johnsnow_test1.jpg (Kit Harington, enrolled)",
            _read(test / "johnsnow_test1.jpg"),
            frozenset({"kit_harington"}),
            0,
        ),
        Scene("alex_lacamoire1.jpg (never enrolled)", _read(test / "alex_lacamoire1.jpg"), frozenset(), 1),
        Scene(
            "lin-manuel-miranda.png (never enrolled)", _read(root / "lin-manuel-miranda.png"), frozenset(), 1
        ),
        Scene(
            "kit_with_rose.jpg (two enrolled)",
            _read(test / "kit_with_rose.jpg"),
            frozenset({"kit_harington", "rose_leslie"}),
            0,
        ),
        Scene(
            "obama_and_biden.jpg (two enrolled, one unknown child)",
            _read(test / "obama_and_biden.jpg"),
            frozenset({"obama", "biden"}),
            1,
        ),
    ]
    scenes.append(
        Scene(
            "obama1.jpg held up on a phone screen (simulated presentation attack)",
            attack_still(
                _read(test / "obama1.jpg"), "screen_replay", np.random.default_rng(PHONE_SCENE_SEED)
            ),
            frozenset(),
            0,
            expected_attacks=1,
        )
    )
    description = (
        f"face_recognition example photos in {faces_dir}: enrolled {', '.join(KNN_ENROLLED)} from "
        "knn_examples/train; presented OTHER photos from knn_examples/test plus two never-enrolled people"
    )
    return DemoData(description=description, enroll=enroll, scenes=scenes)


def _insightface_images() -> Path | None:
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    return path if (path / "t1.jpg").is_file() else None


def _augment(image: BgrImage, *, scale: float, brightness: int, flip: bool) -> BgrImage:
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    shifted = np.clip(resized.astype(np.int16) + brightness, 0, 255).astype(np.uint8)
    return np.asarray(cv2.flip(shifted, 1), dtype=np.uint8) if flip else shifted


def _jpeg(image: BgrImage) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buffer.tobytes()


def group_photo_data(recognizer: Recognizer) -> DemoData | None:
    """Fallback from insightface's bundled group photo: six people, one photo each.

    With a single photo per person, the second enrollment photo and every presented image are
    AUGMENTED COPIES (flip, scale, brightness) of the same photo: this shows the pipeline end to
    end on real faces, not recognition accuracy across photos.
    """
    images = _insightface_images()
    if images is None:
        return None
    group = _read(images / "t1.jpg")
    faces = sorted(recognizer.detect(group), key=lambda face: face.bbox[0])
    crops = []
    for face in faces:
        x1, y1, x2, y2 = face.bbox
        pad_x, pad_y = (x2 - x1) // 2, (y2 - y1) // 2
        crops.append(group[max(0, y1 - pad_y) : y2 + pad_y, max(0, x1 - pad_x) : x2 + pad_x].copy())
    enrolled = {f"t1 person {i + 1}": crop for i, crop in enumerate(crops[:3])}
    enroll = {
        name: [
            Photo(name=f"{name} crop.jpg", data=_jpeg(crop)),
            Photo(
                name=f"{name} crop, AUGMENTED (flipped, brighter).jpg",
                data=_jpeg(_augment(crop, scale=1.0, brightness=25, flip=True)),
            ),
        ]
        for name, crop in enrolled.items()
    }
    scenes = [
        Scene(
            f"t1 person {i + 1}, AUGMENTED copy (1.6×, darker) ({'enrolled' if i < 3 else 'never enrolled'})",
            _augment(crop, scale=1.6, brightness=-20, flip=False),
            frozenset({f"t1 person {i + 1}"}) if i < 3 else frozenset(),
            0 if i < 3 else 1,
        )
        for i, crop in enumerate(crops)
    ]
    description = (
        f"insightface's bundled group photo {images / 't1.jpg'} (no shared data found): "
        "enrolled 3 of its 6 people from their crop plus an AUGMENTED copy; "
        "presented AUGMENTED copies of all 6 (pipeline demo, not accuracy)"
    )
    return DemoData(description=description, enroll=enroll, scenes=scenes)
