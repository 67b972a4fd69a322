"""Shared data for training tests: a few real CelebA identities, read from ../shared/data at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data import SHARED_DATA_DIR, shared_faces

TINY_BACKBONE_NAME = "mobilenet_v3_small"
"""A torchvision network far smaller than MobileFaceNet, for runs whose claim holds for any network (what the
trainer records, resumes, splits, computes in): the rest of a run costs what it costs with either."""


def celeba_few(tmp_path: Path, identities: int = 5) -> Path:
    """A few CelebA identities (links to 12 aligned 112×112 crops each), enough for a seconds-long run."""
    source = shared_faces() / "celeba-subset-aligned112"
    if not source.is_dir():
        pytest.skip(f"CelebA aligned subset not found at {source} (set FACEGATE_DATA_DIR)")
    target = tmp_path / "celeba-few"
    for identity in sorted(p for p in source.iterdir() if p.is_dir())[:identities]:
        (target / identity.name).mkdir(parents=True)
        for crop in sorted(identity.glob("*.jpg"))[:12]:
            (target / identity.name / crop.name).symlink_to(crop)
    return target


@pytest.fixture
def foamliu_state_dict() -> Path:
    path = SHARED_DATA_DIR / "weights" / "mobilefacenet_foamliu" / "mobilefacenet_foamliu_state_dict.pt"
    if not path.is_file():
        pytest.skip(f"foamliu MobileFaceNet weights not found at {path} (set FACEGATE_DATA_DIR)")
    return path
