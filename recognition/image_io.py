"""Decode untrusted image bytes into a BgrImage, refusing anything corrupt or oversized."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from recognition.errors import ImageError
from recognition.types import BgrImage


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> BgrImage:
    """Decode JPEG/PNG/... bytes, applying EXIF orientation.

    The pixel count is read from the header and checked before any pixel is decoded, so a
    20000×20000 image costs nothing; truncated files raise instead of decoding half grey.

    Raises:
        ImageError: empty, too many bytes, not an image, too many pixels, or corrupt.
    """
    if not data:
        raise ImageError("empty file")
    if len(data) > max_bytes:
        raise ImageError(f"file is {len(data)} bytes, the limit is {max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image has too many pixels ({exc})") from exc
        except UnidentifiedImageError as exc:
            raise ImageError("not a recognised image format") from exc
        except (OSError, SyntaxError, ValueError) as exc:  # a header cut short: "Truncated File Read"
            raise ImageError(f"corrupt or truncated image ({exc})") from exc
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(f"image is {width}×{height} pixels, the limit is {max_pixels} pixels")
        try:
            image.load()
            rgb = ImageOps.exif_transpose(image).convert("RGB")
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"corrupt or truncated image ({exc})") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)[:, :, ::-1])
