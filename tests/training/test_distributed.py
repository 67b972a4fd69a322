"""Data-parallel training: the sharded P×K sampler, gradients equal to one process on the union of the
ranks' batches, and a real two-process run that only rank 0 records and that resumes (gloo, CPU)."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs the `train` extra (torch)")
pytest.importorskip("pytorch_metric_learning", reason="training needs the `train` extra")

from torch import multiprocessing  # noqa: E402

from tests.training.conftest import TINY_BACKBONE_NAME, celeba_few  # noqa: E402
from training import (  # noqa: E402
    ArcFaceConfig,
    AugmentConfig,
    DataConfig,
    DatasetError,
    OptimConfig,
    TrainConfig,
    distributed_from_env,
    train_and_export,
)
from training.backbones import build_backbone  # noqa: E402
from training.config import BackboneConfig  # noqa: E402
from training.objective import TrainingNetwork, build_objective  # noqa: E402
from training.samplers import IdentityBatchSampler  # noqa: E402

WORLD_SIZE = 2
STEPS = 3
# MobileFaceNet's float64 convolutions dominated the gradient test; what these tests show holds for any
# network.
TINY_BACKBONE = BackboneConfig(kind="torchvision", name=TINY_BACKBONE_NAME)


def uneven_labels() -> tuple[int, ...]:
    """10 identities with 2 to 11 images each (the first ones fewer than K = 4)."""
    return tuple(label for label in range(10) for _ in range(2 + label))


@pytest.mark.parametrize("epoch", [0, 3])
def test_ranks_get_disjoint_identities_each_step_and_the_same_number_of_steps(epoch: int) -> None:
    labels = uneven_labels()
    shards = [
        list(
            IdentityBatchSampler(
                labels,
                batch_size=8,
                images_per_identity=4,
                seed=5,
                epoch=epoch,
                rank=rank,
                world_size=WORLD_SIZE,
            )
        )
        for rank in range(WORLD_SIZE)
    ]
    assert len(shards[0]) == len(shards[1]) == len(labels) // (8 * WORLD_SIZE) > 0
    for batches in zip(*shards, strict=True):
        identity_sets = []
        for batch in batches:
            assert len(batch) == 8
            batch_labels = [labels[i] for i in batch]
            assert sorted(batch_labels.count(x) for x in set(batch_labels)) == [4, 4]
            identity_sets.append(set(batch_labels))
        assert not identity_sets[0] & identity_sets[1]
    again = list(
        IdentityBatchSampler(
            labels, batch_size=8, images_per_identity=4, seed=5, epoch=epoch, rank=1, world_size=2
        )
    )
    assert again == shards[1]


def test_too_few_identities_for_every_rank_is_a_clear_error() -> None:
    with pytest.raises(DatasetError, match="lower the batch size or the number of processes"):
        IdentityBatchSampler(
            uneven_labels(), batch_size=24, images_per_identity=4, seed=0, epoch=0, world_size=2
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def join_group(rank: int, port: int) -> None:
    """The environment torchrun gives each worker."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(WORLD_SIZE),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)


def seeded_network() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """TINY_BACKBONE and an ArcFace head, identical in every process, BatchNorm in eval mode, float64.

    Float64 so that summing the gradient in another order (DDP averages two partial sums) differs only
    by rounding far below the tolerance.

    BatchNorm in training mode normalises each rank's batch by that batch's own statistics (as every
    data-parallel run without SyncBatchNorm does, and SyncBatchNorm needs a GPU), so only with fixed
    statistics is a rank's loss a true part of the loss over the union of the batches.
    """
    torch.manual_seed(0)
    body = build_backbone(TINY_BACKBONE.model_copy(update={"embedding_dim": 32}))
    objective = build_objective(ArcFaceConfig(scale=16.0), num_classes=2 * WORLD_SIZE, embedding_dim=32)
    network = TrainingNetwork(body, objective).double().eval()
    return network, torch.optim.SGD(network.parameters(), lr=0.05)


def shard(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank `rank`'s batch at `step`: 2 identities (its own) × 2 random images."""
    generator = torch.Generator().manual_seed(100 * step + rank)
    labels = torch.tensor([2 * rank, 2 * rank, 2 * rank + 1, 2 * rank + 1])
    return torch.randn(4, 3, 112, 112, generator=generator, dtype=torch.float64), labels


def ddp_worker(rank: int, port: int, out_dir: str) -> None:
    join_group(rank, port)
    with distributed_from_env(torch.device("cpu")) as dist:
        network, optimizer = seeded_network()
        wrapped = dist.wrap(network, torch.device("cpu"))
        for step in range(STEPS):
            loss, _ = wrapped(*shard(step, rank), epochs_done=0.0)
            optimizer.zero_grad()
            loss.backward()
            if step == 0:
                grads = {name: p.grad.clone() for name, p in network.named_parameters()}
                torch.save(grads, Path(out_dir) / f"grads-{rank}.pt")
            optimizer.step()
        torch.save(network.state_dict(), Path(out_dir) / f"weights-{rank}.pt")


@pytest.mark.slow
def test_two_processes_average_the_gradients_of_one_process_on_the_union_of_their_batches(
    tmp_path: Path,
) -> None:
    multiprocessing.spawn(ddp_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    network, optimizer = seeded_network()
    for step in range(STEPS):
        parts = [shard(step, rank) for rank in range(WORLD_SIZE)]
        images = torch.cat([images for images, _ in parts])
        labels = torch.cat([labels for _, labels in parts])
        loss, _ = network(images, labels, epochs_done=0.0)
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            for rank in range(WORLD_SIZE):
                ddp_grads = torch.load(tmp_path / f"grads-{rank}.pt")
                for name, param in network.named_parameters():
                    torch.testing.assert_close(ddp_grads[name], param.grad, atol=1e-12, rtol=1e-9)
        optimizer.step()
    for rank in range(WORLD_SIZE):
        ddp_weights = torch.load(tmp_path / f"weights-{rank}.pt")
        for name, value in network.state_dict().items():
            torch.testing.assert_close(ddp_weights[name], value, atol=1e-12, rtol=1e-9)


def distributed_config(data_dir: Path) -> TrainConfig:
    """6 training identities, 2 per rank per step; the tiny budget stops each fit after one step."""
    return TrainConfig(
        data=DataConfig(data_dir=data_dir, is_aligned=True, val_identities=3),
        augment=AugmentConfig(
            flip_probability=0.0, colour_jitter=0.0, crop_min_scale=1.0, blur_probability=0.0
        ),
        backbone=TINY_BACKBONE,
        loss=ArcFaceConfig(scale=16.0),
        optim=OptimConfig(
            epochs=3, warmup_epochs=0.0, max_wall_minutes=1e-6, early_stop_patience_epochs=None
        ),
        batch_size=8,
        images_per_identity=4,
        threads=1,
        device="cpu",
        bundle_name="ddp-test",
    )


def training_worker(rank: int, ports: tuple[int, int], data_dir: str, run_dir: str) -> None:
    """A run, then a second launch that resumes it (on a fresh rendezvous port, as torchrun would)."""
    config = distributed_config(Path(data_dir))
    for port, is_resume in zip(ports, (False, True), strict=True):
        join_group(rank, port)
        with distributed_from_env(torch.device("cpu")) as dist:
            outcome = train_and_export(
                config,
                Path(run_dir),
                recognizer=lambda: None,
                is_resume=is_resume,
                dist=dist,  # type: ignore[arg-type,return-value]
            )
        if (outcome is None) != (rank != 0):
            raise AssertionError(f"rank {rank} got outcome {outcome}")


@pytest.mark.slow
@pytest.mark.model
def test_a_two_process_run_is_recorded_by_rank_0_once_and_resumes(tmp_path: Path) -> None:
    from training.checkpoint import load_checkpoint

    data_dir = celeba_few(tmp_path, identities=9)
    run_dir = tmp_path / "run"
    multiprocessing.spawn(
        training_worker,
        args=((free_port(), free_port()), str(data_dir), str(run_dir)),
        nprocs=WORLD_SIZE,
        join=True,
    )
    with (run_dir / "steps.csv").open() as handle:
        steps = list(csv.DictReader(handle))
    assert [(row["step"], row["epoch"]) for row in steps] == [("1", "1"), ("2", "2")]
    with (run_dir / "metrics.csv").open() as handle:
        epochs = list(csv.DictReader(handle))
    assert [row["epoch"] for row in epochs] == ["1", "2"]
    state = load_checkpoint(run_dir / "last.pt")
    assert (state["epoch"], state["step"]) == (2, 2)
    assert (run_dir / "bundles" / "ddp-test" / "model.onnx").is_file()
