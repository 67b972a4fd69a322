"""A run records whether its code was the commit it names: changed tracked files mark the revision dirty."""

from __future__ import annotations

import subprocess
from pathlib import Path

from training.checkpoint import git_revision, short_revision


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _repo_with_one_commit(tmp_path: Path) -> tuple[Path, str]:
    _git(tmp_path, "init", "-q")
    (tmp_path / "trainer.py").write_text("STEPS = 1\n")
    _git(tmp_path, "add", "trainer.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path, _git(tmp_path, "rev-parse", "HEAD")


def test_a_clean_checkout_records_its_commit(tmp_path: Path) -> None:
    repo, commit = _repo_with_one_commit(tmp_path)
    (repo / "run-output.csv").write_text("untracked files do not count\n")

    assert git_revision(repo) == commit


def test_a_changed_tracked_file_marks_the_revision_dirty(tmp_path: Path) -> None:
    repo, commit = _repo_with_one_commit(tmp_path)
    (repo / "trainer.py").write_text("STEPS = 2\n")

    revision = git_revision(repo)

    assert revision == f"{commit}-dirty"
    assert short_revision(revision) == f"{commit[:12]}-dirty"


def test_outside_a_checkout_the_revision_is_unknown(tmp_path: Path) -> None:
    assert git_revision(tmp_path) == "unknown"
    assert short_revision(git_revision(tmp_path)) == "unknown"
