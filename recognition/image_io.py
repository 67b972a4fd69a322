"""Decode untrusted image bytes into a BgrImage, refusing anything corrupt or oversized."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import struct
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

# What Pillow's getexif raises for an EXIF block it cannot read (SyntaxError: not a TIFF header;
# struct.error: a header cut short): the errors Pillow's JPEG plugin itself catches around it when it
# looks for a resolution there (JpegImageFile._read_dpi_from_exif).
_EXIF_ERRORS = (struct.error, KeyError, SyntaxError, TypeError, ValueError, ZeroDivisionError)

_PILLOW_WARNINGS_LOCK = threading.Lock()
"""Held by a decode while its filters are on Python's one warning filter list (see _pillow_warnings)."""

# Pillow's modes for one channel of more than 8 bits (16-bit PNG, TIFF and PGM): its convert("RGB")
# clips each sample at 255 instead of scaling it, so a 16-bit photo came out white.
_WIDE_INTEGER_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})

# The photo formats FaceGate reads (Pillow's format names): the only decoders decode_image lets Pillow run,
# and the formats whose file suffixes (from Pillow's own registry) a folder reader takes (.jpe, .jfif, .pgm).
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
    readable = set(_photo_formats())
    registered = Image.registered_extensions()
    suffixes = {suffix for suffix, image_format in registered.items() if image_format in readable}
    return tuple(sorted(suffixes - _REFUSED_SUFFIXES))


@functools.cache
def _photo_formats() -> tuple[str, ...]:
    """Pillow's names of the photo formats it can open here, in the order Pillow tries its plugins."""
    Image.init()  # loads every plugin once, hence the cache
    return tuple(image_format for image_format in Image.ID if image_format in _PHOTO_FORMATS)


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> BgrImage:
    """Decode the bytes of a photo (BMP, GIF, JPEG, PNG, PPM, TIFF, WEBP), applying EXIF orientation.

    Pillow runs only these formats' plugins: bytes of any other format (ICO, PSD, TGA, ...) are refused,
    named by their first bytes where a format's signature says, and never reach its decoder.

    The pixel count is read from the header and checked before any pixel is decoded, so a
    20000×20000 image costs nothing; truncated files raise instead of decoding half grey.

    A 16-bit greyscale image is scaled to 8 bits (65535 becomes 255).

    Raises:
        ImageError: empty, too many bytes, not a photo format's image, too many pixels, corrupt, or of
            32-bit floating-point samples.
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
            # Only the photo formats' plugins: Pillow's other decoders (ICO, PSD, TGA, EPS through
            # Ghostscript, ...) never see an upload.
            image = Image.open(io.BytesIO(data), formats=_photo_formats())
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels(exc, max_pixels=max_pixels) from exc
        except UnidentifiedImageError as exc:
            raise _unaccepted(data) from exc
        except (OSError, SyntaxError, ValueError) as exc:  # a header cut short: "Truncated File Read"
            raise ImageError(f"corrupt or truncated image ({exc})") from exc
    _log_noticed(noticed)
    return image


def _unaccepted(data: bytes) -> ImageError:
    """The refusal of bytes no photo format's plugin opened, naming their format when a signature says.

    Only Pillow's signature checks look at the bytes (their first 16), never another format's parser, so
    the name is what the first bytes say ("by its first bytes"): a format without a signature is not
    named, or is named for a signature it shares (a true-colour TGA starts as a CUR does), and a photo
    format's file too broken to open is "not a recognised image format" as before.
    """
    accepted = ", ".join(sorted(_photo_formats()))
    named = next((name for name in (*_photo_formats(), *Image.ID) if _has_signature_of(name, data)), None)
    if named is None or named in _PHOTO_FORMATS:
        return ImageError(f"not a recognised image format (FaceGate reads {accepted})")
    return ImageError(f"{named} image (by its first bytes), not a photo format FaceGate reads ({accepted})")


def _has_signature_of(image_format: str, data: bytes) -> bool:
    """Whether Pillow's signature check of `image_format` takes the first 16 bytes (as Image.open asks it:
    a string is a warning, not a match); False for a format without one, or whose check fails on bytes
    this short (DIB's unpacks 4 bytes: Image.open catches the same errors around it)."""
    accept = Image.OPEN[image_format][1]
    if accept is None:
        return False
    try:
        answer = accept(data[:16])
    except (IndexError, SyntaxError, TypeError, struct.error):
        return False
    return not isinstance(answer, str) and bool(answer)


def _upright(image: Image.Image) -> Image.Image:
    """The loaded image turned as its EXIF orientation says; EXIF Pillow cannot read leaves it as stored.

    Pillow warns of an EXIF block it reads in part, and raises for one it cannot read at all (a TIFF
    header that is not one, or cut short): either way the pixels, already decoded, are sound.
    """
    unreadable: Exception | None = None
    with _pillow_warnings() as noticed:
        try:
            orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        except _EXIF_ERRORS as exc:
            orientation, unreadable = 1, exc
    _log_noticed(noticed)
    if unreadable is not None:
        logger.info("photo read past a problem in its metadata: unreadable EXIF block (%s)", unreadable)
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
