"""Weight imprinting (Qi, Brown and Lowe, CVPR 2018): a margin head starts from the class means.

A fresh ArcFace/CosFace head on a pretrained body starts with random class centres, so its loss is
high and its first gradients carry little identity information into the body. Imprinting sets each
training identity's centre to the L2-normalised mean of that identity's unit embeddings under the
pretrained body, so the head is already a nearest-class-mean classifier when training starts.
"""

from __future__ import annotations

import torch
from torch import nn

from training.config import TrainConfig
from training.validation import embed_crops


def class_centres(embeddings: torch.Tensor, labels: torch.Tensor, *, num_classes: int) -> torch.Tensor:
    """num_classes×D unit vectors: the normalised mean of each class's normalised embeddings.

    Args:
        embeddings: N×D float embeddings (normalised here first, as Qi et al. average unit vectors).
        labels: N int64 labels in 0..num_classes-1; every class must occur.

    Raises:
        ValueError: a class has no embedding, so it has no mean to imprint.
    """
    counts = torch.bincount(labels, minlength=num_classes)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"classes {missing[:5]} have no embedding to imprint")
    unit = nn.functional.normalize(embeddings.float(), dim=1)
    sums = torch.zeros(num_classes, unit.shape[1], dtype=unit.dtype).index_add_(0, labels, unit)
    return nn.functional.normalize(sums, dim=1)


@torch.no_grad()
def imprint_margin_head(head: nn.Module, centres: torch.Tensor) -> None:
    """Copy class centres into a pytorch-metric-learning margin loss (its `W` is D×num_classes).

    Raises:
        ValueError: the head has no `W` of shape D×num_classes matching `centres`.
    """
    weight = getattr(head, "W", None)
    if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != tuple(centres.T.shape):
        shape = None if weight is None else tuple(weight.shape)
        raise ValueError(f"head weight {shape} does not fit centres {tuple(centres.shape)} transposed")
    weight.copy_(centres.T.to(weight.device, weight.dtype))


def body_class_centres(
    body: nn.Module, images: torch.Tensor, labels: tuple[int, ...], *, config: TrainConfig
) -> torch.Tensor:
    """`class_centres` of the training crops (N×3×112×112 uint8 RGB, unaugmented) under `body` in eval
    mode: the imprinting of optim.head_init "imprint", not counted in the run's CPU budget."""
    device = next(body.parameters()).device
    embeddings = embed_crops(body, images, mean=config.mean, std=config.std, device=device)
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    return class_centres(torch.from_numpy(embeddings), label_tensor, num_classes=int(max(labels)) + 1)
