"""PyTorch network architectures; importing this imports torch, so the door path never does."""

from recognition.nets.mobilefacenet import MobileFaceNet

__all__ = ["MobileFaceNet"]
