"""Reading, writing and finding a PAD card (`pad.json`) in the model directories."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from recognition.errors import ModelLoadError
from recognition.pad.card import MINIFASNET_SOURCES, PadCard

PAD_CARD_FILE = "pad.json"
PAD_CARD_DIR = "minifasnet-pad"


def read_pad_card(path: Path) -> PadCard:
    """Parse `pad.json`.

    Raises:
        ModelLoadError: unreadable, invalid, or a net not converted from a pinned source.
    """
    try:
        card = PadCard.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ModelLoadError(f"{path}: not a valid PAD card: {exc}") from exc
    pinned = {source.sha256 for source in MINIFASNET_SOURCES}
    for net in card.nets:
        if net.source_sha256 not in pinned:
            raise ModelLoadError(f"{path}: net {net.file} comes from an unpinned source {net.source_sha256}")
    return card


def write_pad_card(card: PadCard, path: Path) -> None:
    """Write `pad.json` atomically (a temporary file moved into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(card.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)


def find_pad_card(search_dirs: tuple[Path, ...]) -> Path:
    """The first `DIR/pad.json` or `DIR/minifasnet-pad/pad.json` among `search_dirs`.

    Raises:
        ModelLoadError: none exists (the message says how to make one).
    """
    for directory in search_dirs:
        for candidate in (directory / PAD_CARD_FILE, directory / PAD_CARD_DIR / PAD_CARD_FILE):
            if candidate.is_file():
                return candidate
    raise ModelLoadError(
        f"no PAD model ({PAD_CARD_DIR}/{PAD_CARD_FILE}) in "
        f"{', '.join(map(str, search_dirs)) or 'no directory'}; "
        "convert the MiniFASNet state dicts once with `facegate pad export` (needs the `train` extra)"
    )
