"""Which pictures the PAD stage calls grey: at most GREY_OFF_SHARE of their pixels have channels more than
GREY_CHANNEL_SPREAD levels apart, in either direction between any two channels."""

from __future__ import annotations

import numpy as np
import pytest

from recognition.pad.minifasnet import GREY_CHANNEL_SPREAD, GREY_OFF_SHARE, _is_grey_picture

HEIGHT, WIDTH = 48, 50
OFF_LIMIT = int(GREY_OFF_SHARE * HEIGHT * WIDTH)  # 24 pixels may be off grey


def _picture(off_pixels: int, spread: int, channel: int) -> np.ndarray:
    """A grey ramp (levels 0 to 255, so both ends of the range are met) with `off_pixels` pixels whose
    `channel` differs from the others by `spread` (at most 127) levels: up at dark pixels, down at bright."""
    levels = np.linspace(0, 255, HEIGHT * WIDTH).round().astype(np.uint8)
    picture = np.repeat(levels.reshape(HEIGHT, WIDTH, 1), 3, axis=2)
    flat = picture.reshape(-1, 3)
    for index in np.linspace(0, HEIGHT * WIDTH - 1, off_pixels).round().astype(int):
        level = int(flat[index, channel])
        flat[index, channel] = level + spread if level + spread <= 255 else level - spread
    return picture


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_a_picture_is_grey_up_to_the_spread_and_the_share_of_pixels_off_it(channel: int) -> None:
    assert _is_grey_picture(_picture(HEIGHT * WIDTH, GREY_CHANNEL_SPREAD, channel))  # all at the spread
    assert _is_grey_picture(_picture(OFF_LIMIT, GREY_CHANNEL_SPREAD + 1, channel))  # the share, just over it
    assert not _is_grey_picture(_picture(OFF_LIMIT + 1, GREY_CHANNEL_SPREAD + 1, channel))
    for level, off_level in ((0, 255), (255, 0)):  # black against white, both ways: no wrap-around
        picture = np.full((HEIGHT, WIDTH, 3), level, np.uint8)
        picture.reshape(-1, 3)[: OFF_LIMIT + 1, channel] = off_level
        assert not _is_grey_picture(picture)
