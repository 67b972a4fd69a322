"""An edge gate's data directory (journal, device key, gallery cache) is created owner-only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gate import ApiGallerySourceConfig, GateSettings
from gate.runtime import EdgeRuntime, build_runtime_for
from storage import StorageSettings


def test_an_edge_gate_creates_its_data_directory_owner_only_under_a_permissive_umask(tmp_path: Path) -> None:
    home = tmp_path / "srv" / "facegate"
    source = ApiGallerySourceConfig.model_validate({"url": "http://127.0.0.1:9/", "api_key": "fg_device"})
    former = os.umask(0o022)
    try:
        runtime = build_runtime_for(GateSettings(gallery_source=source), StorageSettings(home=home))
    finally:
        os.umask(former)
    assert isinstance(runtime, EdgeRuntime)
    assert (stat.S_IMODE(home.parent.stat().st_mode), stat.S_IMODE(home.stat().st_mode)) == (0o700, 0o700)
