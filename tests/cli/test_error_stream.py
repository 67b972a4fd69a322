"""A command that fails prints its error line on stderr, so stdout (a script's `> file`) holds no error.

`facegate demo` without photos and `facegate enroll` refusing its files printed their `error:` line on
stdout, exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app


def _fails_on_stderr(*args: str) -> str:
    """Runs `facegate ARGS`, which must fail with one error line on stderr and none on stdout; the line."""
    result = CliRunner().invoke(app, list(args))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.exit_code == 1 and len(errors) == 1, (result.stdout, result.stderr)
    assert "error: " not in result.stdout
    return errors[0]


def test_the_demo_without_photos_says_so_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "insightface", None)  # an install without insightface's sample photos

    line = _fails_on_stderr("demo", "--data-dir", str(tmp_path / "no-shared-data"))

    assert line == "error: no demo photos: neither shared data nor insightface's sample photos were found"


def test_enroll_refusing_its_files_says_so_on_stderr(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    only_heic = tmp_path / "only-heic"
    only_heic.mkdir()
    (only_heic / "c.heic").write_bytes(b"an iPhone photo, which the decoder does not read")
    good = tmp_path / "good.jpg"  # refused with the other before any photo is decoded
    good.write_bytes(b"\xff\xd8")
    big = tmp_path / "big.jpg"
    with big.open("wb") as file:
        file.truncate(20_000_001)  # sparse: one byte over the default limit

    no_photo = _fails_on_stderr("enroll", "Bob", str(only_heic))
    missing = _fails_on_stderr("enroll", "Bob", str(good), str(tmp_path / "gone.jpg"))
    oversized = _fails_on_stderr("enroll", "Bob", str(good), str(big))

    assert no_photo == "error: no photo to enroll: the folders given hold no image file"
    assert missing == f"error: not a file: {tmp_path / 'gone.jpg'}"
    assert oversized.startswith(f"error: {big}: the file is larger than the limit of 20000000 bytes")
