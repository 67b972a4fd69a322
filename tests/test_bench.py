"""Bench scripts start as BENCHMARKS.md runs them: `python bench/NAME.py` from the root, no PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.data import REPO_ROOT


# Each imports the `gate` package beside bench/gate.py, and all but gate.py a bench or tests module. With
# bench/ on sys.path, `gate` was bench/gate.py (scale.py, pad_rule_check.py failed) and `tests` not found.
@pytest.mark.parametrize(
    "script",
    ["gate.py", "scale.py", "pad_rule_check.py", "edge_sync.py", "audit_verify.py", "migration_0013.py"],
)
def test_a_bench_script_runs_as_a_script(script: str) -> None:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script}")
