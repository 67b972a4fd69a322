"""Training-time augmentation of uint8 crops: flip, colour jitter, small crops, blur (torchvision v2)."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from recognition import ALIGNED_SIZE_PX
from training.config import AugmentConfig

BLUR_KERNEL_PX = 5


class Augmenter:
    """Applies the configured random transforms to one 3×112×112 uint8 RGB tensor."""

    def __init__(self, config: AugmentConfig) -> None:
        steps: list[v2.Transform] = [v2.RandomHorizontalFlip(config.flip_probability)]
        if config.crop_min_scale < 1.0:
            # Small crops only: the face must stay on the alignment template the door uses.
            steps.append(
                v2.RandomResizedCrop(ALIGNED_SIZE_PX, scale=(config.crop_min_scale, 1.0), ratio=(0.95, 1.05))
            )
        if config.colour_jitter > 0.0:
            jitter = config.colour_jitter
            steps.append(v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter))
        if config.blur_probability > 0.0:
            steps.append(v2.RandomApply([v2.GaussianBlur(BLUR_KERNEL_PX)], p=config.blur_probability))
        self.transform = v2.Compose(steps)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.transform(image)
        return out
