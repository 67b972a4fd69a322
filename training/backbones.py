"""Embedding networks by config: MobileFaceNet, a face ResNet, or an unmodified torchvision/timm body."""

from __future__ import annotations

import importlib

from torch import nn

from recognition.nets import MobileFaceNet
from training.config import BackboneConfig
from training.errors import TrainingError
from training.resnet import FaceResNet


def _with_bn(body: nn.Module, embedding_dim: int) -> nn.Module:
    # BatchNorm on the embedding, as MobileFaceNet and insightface's iresnet end.
    return nn.Sequential(body, nn.BatchNorm1d(embedding_dim))


def _torchvision(config: BackboneConfig) -> nn.Module:
    models = importlib.import_module("torchvision.models")
    try:
        body = models.get_model(config.name, weights=None, num_classes=config.embedding_dim)
    except ValueError as exc:
        raise TrainingError(f"torchvision has no model {config.name!r}: {exc}") from exc
    return _with_bn(body, config.embedding_dim)


def _timm(config: BackboneConfig) -> nn.Module:
    try:
        timm = importlib.import_module("timm")
    except ImportError as exc:
        raise TrainingError("backbone kind 'timm' needs timm: pip install timm") from exc
    try:
        body = timm.create_model(config.name, pretrained=False, num_classes=config.embedding_dim)
    except RuntimeError as exc:
        raise TrainingError(f"timm has no model {config.name!r}: {exc}") from exc
    return _with_bn(body, config.embedding_dim)


def build_backbone(config: BackboneConfig) -> nn.Module:
    """A randomly initialised network mapping N×3×112×112 to N×embedding_dim (initial weights load later).

    Raises:
        TrainingError: an unknown torchvision/timm/resnet model name, or timm missing.
    """
    if config.kind == "mobilefacenet":
        return MobileFaceNet(embedding_dim=config.embedding_dim)
    if config.kind == "resnet":
        return FaceResNet(
            config.name or "resnet18", embedding_dim=config.embedding_dim, dropout=config.dropout
        )
    if not config.name:
        raise TrainingError(f"backbone kind {config.kind!r} needs backbone.name (e.g. resnet18)")
    return _torchvision(config) if config.kind == "torchvision" else _timm(config)
