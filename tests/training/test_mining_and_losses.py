"""Miners and losses on constructed embeddings, against brute-force loops over every pair and triplet (K4)."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from training import ArcFaceConfig, CosFaceConfig  # noqa: E402
from training.heads import build_margin_head  # noqa: E402
from training.losses import build_triplet_loss  # noqa: E402
from training.miners import build_miner  # noqa: E402


def unit(vectors: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(vectors, dim=1)


def constructed_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """4 identities × 3 noisy embeddings around their own direction: every kind of triplet occurs."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 16, generator=generator)
    labels = torch.arange(4).repeat_interleave(3)
    return unit(centres[labels] + 0.9 * torch.randn(12, 16, generator=generator)), labels


def cosine(embeddings: torch.Tensor, i: int, j: int) -> float:
    return float(embeddings[i] @ embeddings[j])


@pytest.mark.parametrize("seed", range(5))
def test_batch_hard_picks_the_least_similar_positive_and_most_similar_negative(seed: int) -> None:
    embeddings, labels = constructed_batch(seed)
    anchors, positives, negatives = build_miner("batch_hard", margin_cos=0.2)(embeddings, labels)
    n = len(labels)
    expected = {}
    for a in range(n):
        same = [p for p in range(n) if p != a and labels[p] == labels[a]]
        other = [q for q in range(n) if labels[q] != labels[a]]
        hardest_positive = min(same, key=lambda p: cosine(embeddings, a, p))
        hardest_negative = max(other, key=lambda q: cosine(embeddings, a, q))
        expected[a] = (hardest_positive, hardest_negative)
    mined = {int(a): (int(p), int(q)) for a, p, q in zip(anchors, positives, negatives, strict=True)}
    assert mined == expected


@pytest.mark.parametrize("seed", range(5))
def test_semi_hard_keeps_exactly_the_negatives_inside_the_margin(seed: int) -> None:
    margin = 0.3
    embeddings, labels = constructed_batch(seed)
    anchors, positives, negatives = build_miner("semi_hard", margin_cos=margin)(embeddings, labels)
    mined = {(int(a), int(p), int(q)) for a, p, q in zip(anchors, positives, negatives, strict=True)}
    expected = set()
    for a, p, q in itertools.permutations(range(len(labels)), 3):
        if labels[a] != labels[p] or labels[a] == labels[q]:
            continue
        gap = cosine(embeddings, a, p) - cosine(embeddings, a, q)
        if 0.0 < gap <= margin:
            expected.add((a, p, q))
    assert expected, "the constructed batch should contain semi-hard triplets"
    assert mined == expected


@pytest.mark.parametrize("mining", ["none", "batch_hard"])
def test_triplet_loss_equals_the_mean_hinge_over_the_triplets(mining: str) -> None:
    margin = 0.2
    embeddings, labels = constructed_batch(7)
    miner = build_miner(mining, margin_cos=margin)  # type: ignore[arg-type]
    loss = build_triplet_loss(margin_cos=margin)
    if miner is None:
        triplets = [
            (a, p, q)
            for a, p, q in itertools.permutations(range(len(labels)), 3)
            if labels[a] == labels[p] and labels[a] != labels[q]
        ]
        value = float(loss(embeddings, labels))
    else:
        indices = miner(embeddings, labels)
        triplets = [tuple(int(x) for x in t) for t in zip(*indices, strict=True)]
        value = float(loss(embeddings, labels, indices))
    hinges = [max(0.0, cosine(embeddings, a, q) - cosine(embeddings, a, p) + margin) for a, p, q in triplets]
    assert value == pytest.approx(sum(hinges) / len(hinges), abs=1e-5)


def test_a_batch_of_well_separated_identities_has_zero_batch_hard_loss() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    embeddings = torch.eye(3)[labels]
    miner = build_miner("batch_hard", margin_cos=0.2)
    loss = build_triplet_loss(margin_cos=0.2)
    assert float(loss(embeddings, labels, miner(embeddings, labels))) == 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("config", "target_logit"),
    [
        (ArcFaceConfig(margin_deg=28.6, scale=16.0), lambda c, m: math.cos(math.acos(c) + math.radians(m))),
        (CosFaceConfig(margin_cos=0.35, scale=16.0), lambda c, m: c - m),
    ],
)
def test_margin_heads_equal_a_plain_cross_entropy_with_the_margin_on_the_target(config, target_logit) -> None:
    embeddings, labels = constructed_batch(3)
    head = build_margin_head(config, num_classes=4, embedding_dim=16)
    value = float(head(embeddings, labels).detach())
    weights = unit(head.W.detach().T)  # pytorch-metric-learning stores W as embedding_dim × classes
    margin = config.margin_deg if isinstance(config, ArcFaceConfig) else config.margin_cos
    total = 0.0
    for row, label in zip(embeddings, labels, strict=True):
        cosines = [float(row @ w) for w in weights]
        logits = [
            config.scale * (target_logit(c, margin) if k == label else c) for k, c in enumerate(cosines)
        ]
        total += -logits[int(label)] + math.log(sum(math.exp(z) for z in logits))
    assert value == pytest.approx(total / len(labels), rel=1e-4)
