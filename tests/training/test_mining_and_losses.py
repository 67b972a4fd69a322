"""Miners and losses on constructed embeddings, against brute-force loops over every pair and triplet (K4)."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from training import ArcFaceConfig, CosFaceConfig, TripletConfig  # noqa: E402
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


def brute_force_pairs(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[set, set]:
    """Every (anchor, other) pair of the batch, split into positive and negative pairs."""
    n = len(labels)
    pairs = [(a, b) for a in range(n) for b in range(n) if a != b]
    return (
        {(a, b) for a, b in pairs if labels[a] == labels[b]},
        {(a, b) for a, b in pairs if labels[a] != labels[b]},
    )


@pytest.mark.parametrize("seed", range(5))
def test_multi_similarity_keeps_the_pairs_within_epsilon_of_the_hardest_opposite_pair(seed: int) -> None:
    from training.miners import MULTI_SIMILARITY_EPSILON as eps

    embeddings, labels = constructed_batch(seed)
    a1, p, a2, q = build_miner("multi_similarity", margin_cos=0.2)(embeddings, labels)
    positives, negatives = brute_force_pairs(embeddings, labels)
    hardest_positive = {
        a: min(cosine(embeddings, a, b) for x, b in positives if x == a) for a, _ in positives
    }
    hardest_negative = {
        a: max(cosine(embeddings, a, b) for x, b in negatives if x == a) for a, _ in negatives
    }
    expected_pos = {(a, b) for a, b in positives if cosine(embeddings, a, b) - eps < hardest_negative[a]}
    expected_neg = {(a, b) for a, b in negatives if cosine(embeddings, a, b) + eps > hardest_positive[a]}
    assert {(int(x), int(y)) for x, y in zip(a1, p, strict=True)} == expected_pos
    assert {(int(x), int(y)) for x, y in zip(a2, q, strict=True)} == expected_neg
    assert expected_pos and expected_neg != negatives, "the batch should be partly mined"


@pytest.mark.parametrize("seed", range(5))
def test_distance_weighted_sampling_draws_valid_triplets_and_never_a_zero_loss_negative(seed: int) -> None:
    from training.miners import DISTANCE_WEIGHTED_NONZERO_LOSS_CUTOFF as cutoff

    torch.manual_seed(seed)
    embeddings, labels = constructed_batch(seed)
    anchors, positives, negatives = build_miner("distance_weighted", margin_cos=0.2)(embeddings, labels)
    distance = torch.cdist(embeddings, embeddings)
    far = (distance >= cutoff) & (labels[:, None] != labels[None, :])
    assert far.any(), "the constructed batch should hold negatives the sampler must skip"
    assert len(anchors) > 0
    for a, p, q in zip(anchors.tolist(), positives.tolist(), negatives.tolist(), strict=True):
        assert a != p and labels[a] == labels[p] and labels[a] != labels[q]
        assert distance[a, q] < cutoff


def batch_hard_reference(embeddings: torch.Tensor, labels: torch.Tensor) -> list[tuple[int, int, int]]:
    n = len(labels)
    triplets = []
    for a in range(n):
        same = [p for p in range(n) if p != a and labels[p] == labels[a]]
        other = [q for q in range(n) if labels[q] != labels[a]]
        hardest_positive = min(same, key=lambda p: cosine(embeddings, a, p))
        hardest_negative = max(other, key=lambda q: cosine(embeddings, a, q))
        triplets.append((a, hardest_positive, hardest_negative))
    return triplets


@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_soft_margin_batch_hard_loss_and_its_gradient_equal_a_plain_softplus_loop(margin: float) -> None:
    raw, labels = constructed_batch(11)
    mined = raw.clone().requires_grad_(True)
    loss = build_triplet_loss(margin_cos=margin, is_soft_margin=True)
    value = loss(mined, labels, build_miner("batch_hard", margin_cos=margin)(mined, labels))
    value.backward()
    plain = raw.clone().requires_grad_(True)
    unit_plain = unit(plain)
    terms = [
        torch.nn.functional.softplus(unit_plain[a] @ unit_plain[q] - unit_plain[a] @ unit_plain[p] + margin)
        for a, p, q in batch_hard_reference(raw, labels)
    ]
    expected = torch.stack(terms).mean()
    expected.backward()
    assert float(value.detach()) == pytest.approx(float(expected.detach()), abs=1e-6)
    torch.testing.assert_close(mined.grad, plain.grad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mining", ["none", "batch_hard", "semi_hard", "multi_similarity"])
def test_step_statistics_equal_a_loop_over_the_triplets_and_pairs(mining: str) -> None:
    from training.mining_stats import StepStats, mining_stats

    margin = 0.3
    embeddings, labels = constructed_batch(5)
    miner = build_miner(mining, margin_cos=margin)  # type: ignore[arg-type]
    tuples = miner(embeddings, labels) if miner is not None else None
    stats = StepStats.from_tensor(mining_stats(embeddings * 3.0, labels, tuples, margin_cos=margin))
    if tuples is None:
        triplets = [
            (a, p, q)
            for a, p, q in itertools.permutations(range(len(labels)), 3)
            if labels[a] == labels[p] and labels[a] != labels[q]
        ]
    elif len(tuples) == 4:
        a1, p, a2, q = (t.tolist() for t in tuples)
        pairs = zip(a1, p, strict=True)
        triplets = [(a, pp, qq) for a, pp in pairs for b, qq in zip(a2, q, strict=True) if a == b]
    else:
        triplets = list(zip(*(t.tolist() for t in tuples), strict=True))
    active = [cosine(embeddings, a, q) - cosine(embeddings, a, p) + margin > 0 for a, p, q in triplets]
    positives, negatives = brute_force_pairs(embeddings, labels)
    assert stats.active_fraction == pytest.approx(sum(active) / len(active), abs=1e-6)
    assert stats.positive_cos == pytest.approx(
        sum(cosine(embeddings, a, b) for a, b in positives) / len(positives), abs=1e-5
    )
    assert stats.negative_cos == pytest.approx(
        sum(cosine(embeddings, a, b) for a, b in negatives) / len(negatives), abs=1e-5
    )


def test_a_collapsed_batch_shows_every_triplet_active_and_both_similarities_at_one() -> None:
    from training.mining_stats import StepStats, mining_stats

    labels = torch.arange(4).repeat_interleave(3)
    collapsed = torch.ones(12, 16)
    stats = StepStats.from_tensor(mining_stats(collapsed, labels, None, margin_cos=0.2))
    assert stats == StepStats(
        active_fraction=1.0, positive_cos=pytest.approx(1.0), negative_cos=pytest.approx(1.0)
    )
    head_stats = StepStats.from_tensor(mining_stats(collapsed, labels, None, margin_cos=None))
    assert math.isnan(head_stats.active_fraction)


def test_the_curriculum_mines_semi_hard_before_the_switch_and_batch_hard_after() -> None:
    from training.objective import build_objective

    config = TripletConfig(mining="batch_hard", warmup_mining="semi_hard", warmup_mining_epochs=1.5)
    schedule = build_objective(config, num_classes=4, embedding_dim=16).schedule
    embeddings, labels = constructed_batch(2)
    semi = build_miner("semi_hard", margin_cos=config.margin_cos)(embeddings, labels)
    hard = build_miner("batch_hard", margin_cos=config.margin_cos)(embeddings, labels)
    for got, want in (
        (schedule(embeddings, labels, epochs_done=1.49), semi),
        (schedule(embeddings, labels, epochs_done=1.5), hard),
    ):
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
    with pytest.raises(ValueError, match="together"):
        TripletConfig(warmup_mining="none")
