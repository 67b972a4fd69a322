"""The gate process's threading settings: FAISS threads and Python's thread switch interval."""

from __future__ import annotations

import sys

import pytest

from gate import GateSettings, set_process_threading


def test_the_switch_interval_setting_reaches_the_interpreter() -> None:
    before = sys.getswitchinterval()
    try:  # process-wide state: put back whatever happens
        set_process_threading(GateSettings(gil_switch_interval_ms=2.5, search_threads=0))
        assert sys.getswitchinterval() == pytest.approx(0.0025)
    finally:
        sys.setswitchinterval(before)
    assert GateSettings().gil_switch_interval_ms == 1.0
