"""Convert the pinned MiniFASNet state dicts once to ONNX and write their PAD card (`facegate pad export`)."""

from __future__ import annotations

import logging
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


def export_pad_models(source_dir: Path, out_dir: Path) -> Path:
    """Write `out_dir/pad.json` and one ONNX file per pinned state dict found under `source_dir`.

    A calibration already in `out_dir/pad.json` is kept when the converted nets are byte-identical.

    Raises:
        CheckpointError: a state dict is missing, fails its pinned sha256, or does not load strictly.
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
    if card_path.is_file():
        previous = read_pad_card(card_path)
        if previous.nets == card.nets:
            card = card.model_copy(
                update={"calibration": previous.calibration, "track_rule": previous.track_rule}
            )
    write_pad_card(card, card_path)
    return card_path
