"""Which arithmetic a training step runs in: float32, float16 autocast (CUDA) or bfloat16 autocast.

bfloat16 needs no loss scaling (it has float32's exponent range). On a CPU with AVX512-BF16 or AMX,
oneDNN's bfloat16 convolutions run several times faster than float32 ones, but only on channels-last
tensors, so a bfloat16 run on the CPU also keeps the body and its batches channels-last. Weights,
optimiser moments and the margin computation stay float32, so checkpoints and exports are unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from training.config import MixedPrecision
from training.errors import TrainingError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepPrecision:
    """How `Trainer` runs a step on its device."""

    autocast_dtype: torch.dtype | None
    """None: float32 throughout."""
    memory_format: torch.memory_format

    @property
    def is_loss_scaled(self) -> bool:
        """float16's narrow range needs a GradScaler; bfloat16 and float32 do not."""
        return self.autocast_dtype == torch.float16


def resolve_precision(setting: MixedPrecision, device: torch.device) -> StepPrecision:
    """`auto`: float16 on CUDA (as before this setting existed), float32 on the CPU.

    Raises:
        TrainingError: float16 was asked for on a device other than CUDA.
    """
    if setting == "auto":
        setting = "float16" if device.type == "cuda" else "off"
    if setting == "off":
        return StepPrecision(None, torch.contiguous_format)
    if setting == "float16":
        if device.type != "cuda":
            raise TrainingError(
                f"mixed_precision = 'float16' needs a CUDA device, not {device}; on the CPU use 'bfloat16' "
                "(fast where the CPU has AVX512-BF16 or AMX) or 'off'"
            )
        return StepPrecision(torch.float16, torch.contiguous_format)
    if device.type != "cpu":
        return StepPrecision(torch.bfloat16, torch.contiguous_format)
    if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        logger.warning(
            "mixed_precision = 'bfloat16' on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated "
            "there and usually slower than float32 ('off')"
        )
    return StepPrecision(torch.bfloat16, torch.channels_last)
