"""Real test photos: insightface's wheel ships a few (no face, one face, six faces); the
shared data directory adds labelled photos of several people. Nothing here is copied into the repo."""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from recognition import BgrImage, Recognizer, align_face
from recognition.evaluation.harness import nearest_centre_face

REPO_ROOT = Path(__file__).resolve().parents[1]
# Read before the autouse fixture clears FACEGATE_* from the environment.
SHARED_DATA_DIR = Path(os.environ.get("FACEGATE_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


def insightface_images() -> Path:
    """insightface's sample photos, located without importing the package (it is installed --no-deps)."""
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("insightface is not installed: `make test` installs it for its sample photos")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def group_photo() -> Path:
    """t1.jpg: six different people, faces about 100 px wide."""
    return insightface_images() / "t1.jpg"


def no_face_photos() -> list[Path]:
    """Face-mask product photos: real JPEGs with no face in them."""
    return sorted(insightface_images().glob("mask_*.jpg"))


def face_crops_from_group(recognizer: Recognizer) -> list[bytes]:
    """Six single-person JPEGs cut from the group photo with a margin, left to right."""
    loaded = cv2.imread(str(group_photo()))
    assert loaded is not None, "insightface's t1.jpg did not decode"
    image: BgrImage = np.asarray(loaded, dtype=np.uint8)
    faces = recognizer.detect(image)
    crops = []
    for face in sorted(faces, key=lambda f: f.bbox[0]):
        x1, y1, x2, y2 = face.bbox
        pad_x, pad_y = (x2 - x1) // 2, (y2 - y1) // 2
        crop = image[max(0, y1 - pad_y) : y2 + pad_y, max(0, x1 - pad_x) : x2 + pad_x]
        crops.append(encode_jpeg(crop))
    return crops


def encode_jpeg(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buffer.tobytes()


def encode_pillow(jpeg: bytes, image_format: str, **options: object) -> bytes:
    """The photo re-encoded by Pillow in `image_format` (ICO, TGA, PCX, ...), each a file Pillow opens."""
    with Image.open(io.BytesIO(jpeg)) as photo:
        buffer = io.BytesIO()
        photo.convert("RGB").save(buffer, format=image_format, **options)
    return buffer.getvalue()


def encode_psd(jpeg: bytes) -> bytes:
    """The photo as a Photoshop PSD (8-bit RGB, no layers, raw planes): Pillow reads PSD, cannot write it."""
    with Image.open(io.BytesIO(jpeg)) as photo:
        rgb = np.asarray(photo.convert("RGB"))
    height, width = rgb.shape[:2]
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: all empty
    planes = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    return header + sections + struct.pack(">H", 0) + planes


UNREADABLE_EXIF_BLOCKS = {
    # Pillow's getexif raises on these, where a merely damaged block only warns (Corrupt EXIF data)
    "bad-tiff-header": b"Exif\x00\x00XX\x00\x2a\x00\x00\x00\x08",  # SyntaxError: not a TIFF file
    "cut-tiff-header": b"Exif\x00\x00MM\x00\x2a",  # struct.error: the IFD offset is missing
}


def with_unreadable_exif(jpeg: bytes, block: str) -> bytes:
    """The JPEG with a JFIF resolution in dpi and an EXIF block (UNREADABLE_EXIF_BLOCKS) first.

    With its resolution in the JFIF header, Pillow does not read the EXIF block while it opens the file
    (it would look there for a resolution, and drop the block quietly if unreadable), so the first to
    read it is whoever asks for the photo's orientation. Photo editors write such headers.
    """
    assert jpeg[2:4] == b"\xff\xe0" and jpeg[6:11] == b"JFIF\x00", "expected a JFIF JPEG"
    with_dpi = jpeg[:13] + b"\x01" + jpeg[14:]  # density unit: dots per inch
    segment = UNREADABLE_EXIF_BLOCKS[block]
    return with_dpi[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + with_dpi[2:]


def shared_faces() -> Path:
    """../shared/data/faces, or skip with the reason."""
    path = SHARED_DATA_DIR / "faces"
    if not path.is_dir():
        pytest.skip(f"shared face data not found at {path} (set FACEGATE_DATA_DIR)")
    return path


def shared_weights() -> Path:
    """../shared/data/weights (the verified face models), or skip with the reason."""
    path = SHARED_DATA_DIR / "weights"
    if not path.is_dir():
        pytest.skip(f"shared weights not found at {path} (set FACEGATE_DATA_DIR)")
    return path


def knn_examples() -> Path:
    """face_recognition's knn_examples: train/<name>/*.jpg to enroll, test/*.jpg to present."""
    return shared_faces() / "face-recognition-examples" / "examples" / "knn_examples"


def orl() -> Path:
    """ORL / AT&T faces: s1..s40, ten 92x112 grey PGM photos each, or skip."""
    path = shared_faces() / "orl-att-faces" / "att_faces"
    if not path.is_dir():
        pytest.skip(f"ORL faces not found at {path}")
    return path


def lfw() -> Path:
    """../shared/data/faces/lfw: `lfw-deepfunneled/` images and the View 2 `pairs.txt`, or skip."""
    path = shared_faces() / "lfw"
    if not (path / "pairs.txt").is_file() or not (path / "lfw-deepfunneled").is_dir():
        pytest.skip(f"LFW (lfw-deepfunneled/ and pairs.txt) not found under {path}")
    return path


def write_verification_bin(path: Path, recognizer: Recognizer, pairs: list[tuple[Path, Path, bool]]) -> None:
    """An insightface-style .bin (pickled PNG crops, same flags) of photo pairs, each photo aligned
    by the product's own detect → nearest-centre face → `align_face`."""
    crops = []
    for photo in (photo for first, second, _ in pairs for photo in (first, second)):
        image = recognizer.decode(photo.read_bytes())
        face = nearest_centre_face(
            recognizer.detect(image), width_px=image.shape[1], height_px=image.shape[0]
        )
        crops.append(cv2.imencode(".png", align_face(image, face.landmarks))[1].tobytes())
    path.write_bytes(pickle.dumps((crops, [same for _, _, same in pairs]), protocol=pickle.HIGHEST_PROTOCOL))


def minifasnet_dir() -> Path:
    """../shared/data/weights/minifasnet (the two MiniFASNet state dicts and the sample photos), or skip."""
    path = SHARED_DATA_DIR / "weights" / "minifasnet"
    if not (path / "2.7_80x80_MiniFASNetV2.pth").is_file():
        pytest.skip(f"MiniFASNet state dicts not found at {path} (set FACEGATE_DATA_DIR)")
    return path


def converted_pad_dir(target: Path) -> Path:
    """`target` with the PAD card and ONNX nets converted from the shared state dicts (torch), or skip."""
    pytest.importorskip("torch", reason="converting MiniFASNet needs the `train` extra (torch)")
    from training.pad_export import export_pad_models

    export_pad_models(minifasnet_dir(), target / "minifasnet-pad")
    return target
