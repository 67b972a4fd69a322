"""A command that fails prints its error line on stderr, so stdout (a script's `> file`) holds no error;
`facegate enroll`'s warnings go there too, so its stdout is its result alone.

`facegate demo` without photos and `facegate enroll` refusing its files printed their `error:` line on
stdout, exit 1; enroll's `warning: left out` and `warning: possible duplicate` lines were on stdout, exit 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from api.cli import app
from recognition import Recognizer, image_suffixes


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


def test_enroll_warns_on_stderr_and_its_stdout_is_the_result_alone(
    tmp_path: Path, group_faces: list[bytes], recognizer: Recognizer
) -> None:
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    alice = tmp_path / "a.jpg"
    alice.write_bytes(group_faces[0])
    assert CliRunner().invoke(app, ["enroll", "Alice", str(alice)]).exit_code == 0
    folder = tmp_path / "again"
    folder.mkdir()
    face = cv2.imdecode(np.frombuffer(group_faces[0], np.uint8), cv2.IMREAD_COLOR)
    assert face is not None
    mirrored = cv2.flip(face, 1)
    (folder / "m.jpg").write_bytes(cv2.imencode(".jpg", mirrored)[1].tobytes())
    (folder / "b.heic").write_bytes(b"an iPhone photo, which the decoder does not read")

    result = CliRunner().invoke(app, ["enroll", "Alice again", str(folder)])

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stdout == f"person 2: 1 templates enrolled ({recognizer.model_id})\n"
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings[0] == f"warning: left out, not {' '.join(image_suffixes())}: {folder / 'b.heic'}"
    assert warnings[1].startswith("warning: possible duplicate: m.jpg matches person 1 (score 0.")
    assert len(warnings) == 2, result.stderr
