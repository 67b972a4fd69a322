"""Checkpoints written atomically (H2) and initial weights from a state dict, checkpoint or bundle."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.errors import CheckpointError

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
TORCHSCRIPT_FILE = "model.ts"


def save_atomically(state: dict[str, Any], path: Path) -> None:
    """torch.save under a temporary name, then rename: a crash never leaves half a checkpoint."""
    tmp_path = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp_path)
    os.replace(tmp_path, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by `save_atomically` (tensors, numbers, strings and dicts only).

    Raises:
        CheckpointError: the file is missing or not a checkpoint.
    """
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {exc}") from exc
    return state


DIRTY_MARK = "-dirty"


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=directory, capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.strip()


def git_revision(directory: Path) -> str:
    """The commit the code was at (recorded in every checkpoint and bundle), or 'unknown' outside a git
    checkout; with DIRTY_MARK appended when tracked files differ from that commit, because the run's code
    is then not the commit's. Untracked files (run outputs, data) do not count."""
    try:
        revision = _git(directory, "rev-parse", "HEAD")
        changed = _git(directory, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return revision + DIRTY_MARK if changed else revision


def short_revision(revision: str) -> str:
    """`revision` cut to 12 hex digits for a bundle's source line, keeping its dirty mark."""
    mark = DIRTY_MARK if revision.endswith(DIRTY_MARK) else ""
    return revision.removesuffix(DIRTY_MARK)[:12] + mark


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """A TorchScript file on the CPU (an exported bundle's model.ts)."""
    with warnings.catch_warnings():
        # torch 2.14 marks TorchScript deprecated; the format still loads (see export.write_torchscript).
        warnings.simplefilter("ignore", FutureWarning)
        module: torch.jit.ScriptModule = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
    return module


def _state_dict_from(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        try:
            scripted = load_torchscript(path / TORCHSCRIPT_FILE)
        except (OSError, RuntimeError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: not an exported bundle with a readable {TORCHSCRIPT_FILE}"
            ) from exc
        return dict(scripted.state_dict())
    loaded = load_checkpoint(path)
    return loaded["model"] if isinstance(loaded.get("model"), dict) else loaded


def load_initial_weights(model: nn.Module, path: Path) -> None:
    """Load weights strictly into `model` from a state dict, a trainer checkpoint or a bundle directory.

    Raises:
        CheckpointError: unreadable, or the keys or shapes do not match the configured backbone.
    """
    state = _state_dict_from(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the configured backbone: {exc}") from exc
