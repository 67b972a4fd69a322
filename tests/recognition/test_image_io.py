"""decode_image on hostile and unusual input: every refusal is an ImageError that names the problem."""

from __future__ import annotations

import io
import logging
import re
import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from recognition import ImageError, RecognitionSettings, decode_image, image_paths, image_suffixes
from tests.data import UNREADABLE_EXIF_BLOCKS, encode_pillow, encode_psd, group_photo, with_unreadable_exif

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_bilevel_png(side_px: int) -> bytes:
    """A valid 1-bit grayscale PNG, compressed row by row: a few kB however large the image."""
    header = struct.pack(">IIBBBBB", side_px, side_px, 1, 0, 0, 0, 0)
    row = b"\x00" + bytes((side_px + 7) // 8)
    compressor = zlib.compressobj(9)
    compressed = b"".join(compressor.compress(row) for _ in range(side_px)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", compressed)
        + _png_chunk(b"IEND", b"")
    )


def test_decodes_a_real_jpeg_to_bgr() -> None:
    data = group_photo().read_bytes()

    image = decode_image(data, **LIMITS)

    assert image.dtype == np.uint8 and image.shape == (886, 1280, 3) and image.flags.c_contiguous


def test_channels_come_back_in_bgr_order() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 4), (255, 0, 0)).save(buffer, format="PNG")

    image = decode_image(buffer.getvalue(), **LIMITS)

    assert image.shape == (4, 8, 3)
    assert (image == np.array([0, 0, 255], dtype=np.uint8)).all()


def test_grayscale_and_alpha_images_become_three_channels() -> None:
    for mode, colour in (("L", 128), ("RGBA", (10, 20, 30, 0)), ("P", 3)):
        buffer = io.BytesIO()
        Image.new(mode, (5, 7), colour).save(buffer, format="PNG")
        assert decode_image(buffer.getvalue(), **LIMITS).shape == (7, 5, 3), mode


def test_truncated_jpeg_is_corrupt() -> None:
    data = group_photo().read_bytes()

    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2], **LIMITS)


def test_garbage_bytes_are_not_an_image() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ImageError, match="not a recognised image format"):
        decode_image(rng.bytes(4096), **LIMITS)
    with pytest.raises(ImageError, match="not a recognised image format"):
        decode_image(b"<html>not a photo</html>", **LIMITS)
    for short in (b"0", b"BM", b"\x00\x00\x01"):  # shorter than a signature check reads (DIB's: 4 bytes)
        with pytest.raises(ImageError, match="not a recognised image format"):
            decode_image(short, **LIMITS)


def test_empty_file() -> None:
    with pytest.raises(ImageError, match="empty"):
        decode_image(b"", **LIMITS)


def test_file_over_the_byte_limit() -> None:
    data = group_photo().read_bytes()

    with pytest.raises(ImageError, match=f"{len(data)} bytes, the limit is {len(data) - 1}"):
        decode_image(data, max_bytes=len(data) - 1, max_pixels=LIMITS["max_pixels"])
    assert decode_image(data, max_bytes=len(data), max_pixels=LIMITS["max_pixels"]).shape[2] == 3


def test_twenty_thousand_pixels_square_is_refused_before_decoding() -> None:
    data = huge_bilevel_png(20_000)
    assert len(data) < 200_000
    # The same generator yields a PNG that decodes when it is small enough (next test).

    with pytest.raises(ImageError, match="pixels"):
        decode_image(data, **LIMITS)


@pytest.mark.parametrize("side_px", [20_000, 10_000])
def test_a_size_pillow_refuses_is_refused_naming_our_limit_and_its_setting(
    side_px: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pillow refuses these in its header check (20000² outright, 10000² by its warning), before the
    # size can be read; the refusal quoted Pillow's limit (178956970, 89478485), not the one that applies.
    setting = "FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_PIXELS"
    reason = f"image is {side_px**2} pixels, the limit is 40000000 pixels ({setting})"

    with pytest.raises(ImageError, match=re.escape(reason)) as refused:
        decode_image(huge_bilevel_png(side_px), **LIMITS)

    assert "178956970" not in str(refused.value) and "89478485" not in str(refused.value)
    monkeypatch.setenv(setting, "123")
    assert RecognitionSettings().limits.max_image_pixels == 123


def test_pixel_limit_is_ours_not_only_pillows() -> None:
    # 3000×3000 is far below Pillow's own decompression-bomb limit; ours must still apply.
    data = huge_bilevel_png(3000)

    reason = "3000×3000 pixels, the limit is 1000000 pixels (FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_PIXELS)"
    with pytest.raises(ImageError, match=re.escape(reason)):
        decode_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=1_000_000)
    assert decode_image(data, max_bytes=LIMITS["max_bytes"], max_pixels=9_000_000).shape == (3000, 3000, 3)


def _jpeg_with_orientation(orientation: int) -> bytes:
    """40 wide × 20 high: left half red, right half blue, with an EXIF orientation tag."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def _is_red(pixel: np.ndarray) -> bool:
    blue, green, red = (int(value) for value in pixel)
    return red > 200 and blue < 60 and green < 60


def _is_blue(pixel: np.ndarray) -> bool:
    blue, green, red = (int(value) for value in pixel)
    return blue > 200 and red < 60 and green < 60


def test_exif_orientation_one_keeps_the_stored_layout() -> None:
    image = decode_image(_jpeg_with_orientation(1), **LIMITS)

    assert image.shape == (20, 40, 3)
    assert _is_red(image[10, 5]) and _is_blue(image[10, 35])


def test_exif_orientation_six_is_rotated_upright() -> None:
    # Orientation 6: the stored image must be turned 90° clockwise for display; the stored
    # left column becomes the top row.
    image = decode_image(_jpeg_with_orientation(6), **LIMITS)

    assert image.shape == (40, 20, 3)
    assert _is_red(image[5, 10]) and _is_blue(image[35, 10])


def test_exif_orientation_eight_is_rotated_upright() -> None:
    image = decode_image(_jpeg_with_orientation(8), **LIMITS)

    assert image.shape == (40, 20, 3)
    assert _is_blue(image[5, 10]) and _is_red(image[35, 10])


def _with_broken_exif(jpeg: bytes) -> bytes:
    """The JPEG with an EXIF block first whose orientation entry points past the block's end."""
    segment = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x12\x00\x03\xff\xff\xff\xff"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def test_a_photo_with_broken_exif_decodes_as_stored_and_the_problem_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Pillow reads such a photo without its EXIF but says so only by a UserWarning, which escaped
    # decode_image where warnings are errors (as here) and went to stderr elsewhere.
    stored = _jpeg_with_orientation(1)

    with caplog.at_level(logging.INFO, logger="recognition.image_io"):
        image = decode_image(_with_broken_exif(stored), **LIMITS)

    assert np.array_equal(image, decode_image(stored, **LIMITS))
    assert "photo read past a problem in its metadata: Corrupt EXIF data" in caplog.text


def test_decodes_on_several_threads_leave_the_process_warning_filters_as_they_were() -> None:
    # decode_image sets warning filters while Pillow reads a header, and Python's filters are one list
    # for the process: overlapping decodes put back each other's lists, which left decode_image's filters
    # on for good and let Pillow's UserWarning out of decode_image (3 runs of 3 without the lock). With
    # the lock they cannot overlap, so this passes every time; without it, it fails when they do.
    broken = _with_broken_exif(_jpeg_with_orientation(1))
    filters = list(warnings.filters)
    escaped: list[BaseException] = []

    def decode_many() -> None:
        for _ in range(300):
            try:
                decode_image(broken, **LIMITS)
            except Exception as exc:
                escaped.append(exc)

    interval_s = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=decode_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval_s)

    assert escaped == []
    assert warnings.filters == filters


def test_pillow_decompression_bomb_warning_becomes_an_image_error() -> None:
    # 10000×10000 lies between Pillow's warning and error limits; even with a generous limit of
    # ours, it must come back as our error, never as a raw Pillow warning or a decoded array.
    with pytest.raises(ImageError, match="too many pixels"):
        decode_image(huge_bilevel_png(10_000), max_bytes=LIMITS["max_bytes"], max_pixels=200_000_000)


def _saved(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize("image_format", ["PNG", "TIFF"])
def test_sixteen_bit_greyscale_is_scaled_to_eight_bits_not_clipped(image_format: str) -> None:
    # Pillow's convert("RGB") clips 16-bit samples at 255: the photo came out white, "no face found".
    grey = np.asarray(Image.open(group_photo()).convert("L"))
    sixteen_bit = Image.fromarray(grey.astype(np.uint16) * 257)
    assert sixteen_bit.mode == "I;16"

    image = decode_image(_saved(sixteen_bit, image_format), **LIMITS)

    assert image.shape == (*grey.shape, 3)
    assert int(np.abs(image.astype(np.int64) - grey[:, :, None]).max()) == 0


def test_floating_point_samples_are_refused_by_name() -> None:
    grey = np.asarray(Image.open(group_photo()).convert("L"), dtype=np.float32) / 255

    with pytest.raises(ImageError, match=re.escape("32-bit floating-point samples are not supported")):
        decode_image(_saved(Image.fromarray(grey), "TIFF"), **LIMITS)


def test_every_suffix_a_folder_reader_takes_decodes() -> None:
    photo = Image.open(group_photo()).convert("RGB").resize((64, 48))
    formats = Image.registered_extensions()
    for suffix in image_suffixes():
        grey = formats[suffix] == "PPM" and suffix != ".ppm"  # .pgm grey, .pbm bilevel, .pnm either
        data = _saved(photo.convert("L") if grey else photo, formats[suffix])
        assert decode_image(data, **LIMITS).shape == (48, 64, 3), suffix
    # A camera's multi-picture JPEG (.jpg) is Pillow's MPO, opened by its JPEG plugin.
    buffer = io.BytesIO()
    photo.save(buffer, format="MPO", save_all=True, append_images=[photo.rotate(180)])
    assert Image.open(buffer).format == "MPO"
    assert decode_image(buffer.getvalue(), **LIMITS).shape == (48, 64, 3)


def test_a_pad_data_folder_gives_its_gif_tiff_and_pgm_photos(tmp_path: Path) -> None:
    # The PAD evaluations' folder reader had a list of its own, without .gif and .tif.
    for name in ("a.gif", "b.TIF", "c.pgm", "d.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")

    assert [path.name for path in image_paths(tmp_path)] == ["a.gif", "b.TIF", "c.pgm", "d.jpg"]


ACCEPTED = "BMP, GIF, JPEG, PNG, PPM, TIFF, WEBP"
UNRECOGNISED = f"not a recognised image format (FaceGate reads {ACCEPTED})"


def _foreign(name: str) -> str:
    return f"{name} image (by its first bytes), not a photo format FaceGate reads ({ACCEPTED})"


FOREIGN_FORMATS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    # a JPEG re-encoded: the refusal (a true-colour TGA has no signature of its own, but CUR's)
    "ICO": (lambda jpeg: encode_pillow(jpeg, "ICO"), _foreign("ICO")),
    "PSD": (encode_psd, _foreign("PSD")),
    "TGA": (lambda jpeg: encode_pillow(jpeg, "TGA"), _foreign("CUR")),
    "PCX": (lambda jpeg: encode_pillow(jpeg, "PCX"), _foreign("PCX")),
    "TGA RLE": (lambda jpeg: encode_pillow(jpeg, "TGA", compression="tga_rle"), UNRECOGNISED),
}


@pytest.mark.parametrize("image_format", sorted(FOREIGN_FORMATS))
def test_a_photo_in_a_format_pillow_reads_but_no_folder_reader_takes_is_refused_by_name(
    image_format: str,
) -> None:
    # decode_image let Pillow open any format it knows (ICO, PSD, TGA, PCX, EPS, ...): decoders an
    # access-control server taking uploads has no need to run, for formats no folder reader takes.
    encode, reason = FOREIGN_FORMATS[image_format]
    data = encode(_group_photo_jpeg())
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == image_format.split()[0]  # a real file of that format, which Pillow decodes

    with pytest.raises(ImageError, match=re.escape(reason)):
        decode_image(data, **LIMITS)


def test_a_photo_format_file_too_broken_to_open_is_not_named_foreign() -> None:
    png = _saved(Image.new("RGB", (8, 4)), "PNG")

    with pytest.raises(ImageError, match=re.escape(UNRECOGNISED)):
        decode_image(png.replace(b"IHDR", b"IHDX"), **LIMITS)


def _group_photo_jpeg() -> bytes:
    """The group photo, cut to 256 × 176 (ICO's largest side is 256)."""
    with Image.open(group_photo()) as photo:
        return _saved(photo.convert("RGB").resize((256, 176)), "JPEG")


def _png_with_exif(png: bytes, exif: bytes) -> bytes:
    """The PNG with an eXIf chunk (the block without its JPEG "Exif\\0\\0" prefix) after its header."""
    return png[:33] + _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00")) + png[33:]


def _lossless_webp(image: Image.Image, **options: bytes) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", lossless=True, **options)
    return buffer.getvalue()


def _unreadable_exif_cases() -> dict[str, tuple[bytes, bytes]]:
    """name: (a photo whose EXIF block Pillow cannot read at all, the same photo without the block)."""
    with Image.open(group_photo()) as opened:
        photo = opened.convert("RGB").resize((160, 111))
    jpeg, png = _saved(photo, "JPEG"), _saved(photo, "PNG")
    bad_header = UNREADABLE_EXIF_BLOCKS["bad-tiff-header"]
    return {
        **{f"JPEG {block}": (with_unreadable_exif(jpeg, block), jpeg) for block in UNREADABLE_EXIF_BLOCKS},
        "PNG bad-tiff-header": (_png_with_exif(png, bad_header), png),
        "WEBP bad-tiff-header": (_lossless_webp(photo, exif=bad_header), _lossless_webp(photo)),
    }


@pytest.mark.parametrize(
    "case",
    [*(f"JPEG {block}" for block in UNREADABLE_EXIF_BLOCKS), "PNG bad-tiff-header", "WEBP bad-tiff-header"],
)
def test_a_photo_whose_exif_pillow_cannot_read_at_all_decodes_as_stored_and_the_problem_is_logged(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Pillow's getexif raises (SyntaxError: not a TIFF file; struct.error for a header cut short) where a
    # damaged block only warns: the photo, its pixels sound, was refused as corrupt, or struct.error
    # escaped decode_image (a 500 through the API).
    broken, stored = _unreadable_exif_cases()[case]

    with caplog.at_level(logging.INFO, logger="recognition.image_io"):
        image = decode_image(broken, **LIMITS)

    assert np.array_equal(image, decode_image(stored, **LIMITS))
    assert "photo read past a problem in its metadata: unreadable EXIF block (" in caplog.text
