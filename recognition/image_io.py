"""Decode untrusted image bytes into a BgrImage, refusing anything corrupt or oversized."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import threading
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from recognition.errors import ImageError
from recognition.types import BgrImage

logger = logging.getLogger(__name__)

# How to turn a stored image upright for each EXIF orientation (Pillow's ImageOps.exif_transpose table).
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_PILLOW_WARNINGS_LOCK = threading.Lock()
"""Held by a decode while its filters are on Python's one warning filter list (see _pillow_warnings)."""

# Pillow's modes for one channel of more than 8 bits (16-bit PNG, TIFF and PGM): its convert("RGB")
# clips each sample at 255 instead of scaling it, so a 16-bit photo came out white.
_WIDE_INTEGER_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

# The photo formats a folder of photos gives (Pillow's format names); their file suffixes come from Pillow's
# own registry, so a folder reader takes every suffix decode_image reads for them (.jpe, .jfif, .pgm, .gif).
_PHOTO_FORMATS = frozenset({"BMP", "GIF", "JPEG", "PNG", "PPM", "TIFF", "WEBP"})
PIXEL_LIMIT_SETTING = "FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_PIXELS"
"""The setting that gives decode_image's `max_pixels` (RecognitionSettings.limits), named in its refusal."""
# Pillow's decompression-bomb refusal: "Image size (900000000 pixels) exceeds limit of 178956970 pixels, ..."
_PILLOW_PIXEL_COUNT = re.compile(r"Image size \((\d+) pixels\)")

# PPM's .pfm holds 32-bit floating-point samples, which decode_image refuses.
_REFUSED_SUFFIXES = frozenset({".pfm"})


@functools.cache
def image_suffixes() -> tuple[str, ...]:
    """The file suffixes (lower case, sorted, with the dot) of the photos that decode_image reads.

    What a reader of a folder of photos takes (`facegate enroll`, the gate's image folders, the PAD
    evaluations): the suffixes Pillow registers for the usual photo formats it can open here.
    """
    registered = Image.registered_extensions()  # loads Pillow's plugins once, hence the cache
    readable = _PHOTO_FORMATS & Image.OPEN.keys()
    suffixes = {suffix for suffix, image_format in registered.items() if image_format in readable}
    return tuple(sorted(suffixes - _REFUSED_SUFFIXES))


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> BgrImage:
    """Decode JPEG/PNG/... bytes, applying EXIF orientation.

    The pixel count is read from the header and checked before any pixel is decoded, so a
    20000×20000 image costs nothing; truncated files raise instead of decoding half grey.

    A 16-bit greyscale image is scaled to 8 bits (65535 becomes 255).

    Raises:
        ImageError: empty, too many bytes, not an image, too many pixels, corrupt, or of 32-bit
            floating-point samples.
    """
    if not data:
        raise ImageError("empty file")
    if len(data) > max_bytes:
        raise ImageError(f"file is {len(data)} bytes, the limit is {max_bytes}")
    image = _open(data, max_pixels=max_pixels)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"image is {width}×{height} pixels, {_limit_phrase(max_pixels)}")
    try:
        image.load()
        rgb = _eight_bit_rgb(_upright(image))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"corrupt or truncated image ({exc})") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    """Pillow's reading of the header (no pixel decoded yet); a bomb or a broken header is an ImageError."""
    with _pillow_warnings() as noticed:
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(exc, max_pixels=max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise ImageError("not a recognised image format") from exc
        except (OSError, SyntaxError, ValueError) as exc:  # a header cut short: "Truncated File Read"
            raise ImageError(f"corrupt or truncated image ({exc})") from exc
    _log_noticed(noticed)
    return image


def _upright(image: Image.Image) -> Image.Image:
    """The loaded image turned as its EXIF orientation says; EXIF Pillow cannot read leaves it as stored."""
    with _pillow_warnings() as noticed:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    _log_noticed(noticed)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


@contextlib.contextmanager
def _pillow_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Pillow's warnings while it reads a header or EXIF, collected instead of shown; its decompression-bomb
    warning is raised instead (as Image.DecompressionBombWarning).

    Pillow reports a broken EXIF block ("Corrupt EXIF data", "Tag data larger than file. Skipping tag 274")
    only as a UserWarning, and reads the photo without it: shown, it went to stderr, and where warnings are
    errors (the test suite) it escaped decode_image as a raw UserWarning.
    """
    # Python 3.11's warning filters are process-global: catch_warnings swaps the one list and, leaving, puts
    # back the list it found. Two decodes overlapping on the API's threads put back each other's, which left
    # these filters on for good ("always" for every warning of the process) and let a warning through as a
    # raw UserWarning. The lock keeps FaceGate's decodes from overlapping here, which is only Pillow's
    # reading of a header or an EXIF block (the pixels are decoded outside it, in parallel).
    with _PILLOW_WARNINGS_LOCK, warnings.catch_warnings(record=True) as noticed:
        warnings.simplefilter("always")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield noticed


def _log_noticed(noticed: list[warnings.WarningMessage]) -> None:
    for warning in noticed:
        logger.info("photo read past a problem in its metadata: %s", warning.message)


def _limit_phrase(max_pixels: int) -> str:
    return f"the limit is {max_pixels} pixels ({PIXEL_LIMIT_SETTING})"


def _too_many_pixels(exc: Exception, *, max_pixels: int) -> ImageError:
    """Pillow refused the header's size before we could read it: our limit, not Pillow's, when ours applies.

    Pillow's own limit (89,478,485 pixels, refused outright at twice that) is above ours unless the setting
    was raised past it; then Pillow's is the limit that refused the image, and its message is kept.
    """
    found = _PILLOW_PIXEL_COUNT.search(str(exc))
    if found is None:
        return ImageError(f"image has too many pixels, {_limit_phrase(max_pixels)}")
    if int(found[1]) > max_pixels:
        return ImageError(f"image is {found[1]} pixels, {_limit_phrase(max_pixels)}")
    return ImageError(f"image has too many pixels ({exc})")


def _eight_bit_rgb(image: Image.Image) -> Image.Image:
    """The decoded image in 8-bit RGB; 16-bit grey samples are scaled, not clipped."""
    if image.mode == "F":
        raise ImageError("32-bit floating-point samples are not supported; save the photo with 8 or 16 bits")
    if image.mode in _WIDE_INTEGER_MODES:
        samples = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
        return Image.fromarray(((samples + 128) // 257).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")
