"""Offline metric learning (ArcFace/CosFace, triplet with hard mining) producing deployable embedding models.

Not built yet: see issue 4. It will be the only package that imports torch, and it will not import storage.
"""

__all__: list[str] = []
