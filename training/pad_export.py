"""Convert the pinned MiniFASNet state dicts once to ONNX and write their PAD card (`facegate pad export`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from recognition import (
    MINIFASNET_SOURCES,
    PAD_CARD_FILE,
    PadCard,
    PadNet,
    read_pad_card,
    sha256_of,
    write_pad_card,
)
from training.errors import CheckpointError
from training.minifasnet import INPUT_SIDE_PX, LIVE_CLASS, export_minifasnet_onnx, load_minifasnet

logger = logging.getLogger(__name__)

PAD_MODEL_ID = "minifasnet-v2-2.7+v1se-4.0"


def _find_source(source_dir: Path, filename: str) -> Path:
    for candidate in (source_dir / filename, *sorted(source_dir.glob(f"*/{filename}"))):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{filename} not found in {source_dir} or one folder below it")


CARD_OWN_FIELDS = frozenset({"model_id", "nets"})
"""What the exporter itself writes; every other field of a card (its calibrations, each with its attack
evidence, and the track rule) was measured on the nets' scores."""


@dataclass(frozen=True)
class PadExport:
    """Where the card went, and which fields measured on the nets' scores it kept or dropped."""

    card_path: Path
    kept: tuple[str, ...] = ()
    """Fields kept from the card already there: the converted nets are byte-identical to its nets."""
    dropped: tuple[str, ...] = ()
    """Fields of the card already there left out: its nets differ, so they describe other scores."""


def _measured_fields(card: PadCard) -> dict[str, object]:
    """The card's fields measured on its nets' scores that are set (a calibration, the track rule)."""
    return {
        name: getattr(card, name)
        for name in PadCard.model_fields
        if name not in CARD_OWN_FIELDS and getattr(card, name) not in (None, ())
    }


def export_pad_models(source_dir: Path, out_dir: Path) -> PadExport:
    """Write `out_dir/pad.json` and one ONNX file per pinned state dict found under `source_dir`.

    Everything a card already in `out_dir/pad.json` holds beyond its nets (every calibration with its
    attack evidence, the track rule) is kept when the converted nets are byte-identical to its nets, and
    all of it dropped when they differ (the result names what).

    Raises:
        CheckpointError: a state dict is missing, fails its pinned sha256, or does not load strictly.
        ModelLoadError: a card already in `out_dir` is not a valid PAD card.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    nets = []
    for source in MINIFASNET_SOURCES:
        path = _find_source(source_dir, source.filename)
        actual = sha256_of(path)
        if actual != source.sha256:
            raise CheckpointError(f"{path}: sha256 {actual} is not the pinned {source.sha256}")
        onnx_path = out_dir / f"minifasnet_{source.variant}_{source.scale:.1f}_{INPUT_SIDE_PX}.onnx"
        export_minifasnet_onnx(load_minifasnet(path, source.variant), onnx_path)
        logger.info("converted %s → %s", path, onnx_path)
        nets.append(
            PadNet(
                variant=source.variant,
                file=onnx_path.name,
                sha256=sha256_of(onnx_path),
                scale=source.scale,
                input_side_px=INPUT_SIDE_PX,
                live_class=LIVE_CLASS,
                source_sha256=source.sha256,
            )
        )
    card = PadCard(model_id=PAD_MODEL_ID, nets=tuple(nets))
    card_path = out_dir / PAD_CARD_FILE
    previous = read_pad_card(card_path) if card_path.is_file() else None
    measured = {} if previous is None else _measured_fields(previous)
    is_same_nets = previous is not None and previous.nets == card.nets
    if is_same_nets:
        card = card.model_copy(update=measured)
    elif measured:
        logger.warning("the converted nets differ from the card's: dropped %s", ", ".join(measured))
    write_pad_card(card, card_path)
    return PadExport(
        card_path=card_path,
        kept=tuple(measured) if is_same_nets else (),
        dropped=() if is_same_nets else tuple(measured),
    )
