"""`facegate enroll` and `people confusable` draw the stored gallery's load on stderr (H5), not stdout.

Both decrypt every stored template first (and the look-alike report searches each one), which takes
seconds to minutes at tens of thousands of templates; they drew nothing while it ran.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from api.cli import app
from recognition import Recognizer
from storage import Engine


def _run(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_the_gallery_load_is_drawn_on_stderr_and_stdout_says_what_it_said(
    configured: Engine, tmp_path: Path, group_faces: list[bytes], recognizer: Recognizer
) -> None:
    _run("init")
    photos = []
    for number, face in enumerate(group_faces[:3]):
        photos.append(tmp_path / f"{number}.jpg")
        photos[-1].write_bytes(face)
    _run("enroll", "Alice", str(photos[0]))
    _run("enroll", "Bob", str(photos[1]))

    enrolled = _run("enroll", "Carol", str(photos[2]))
    assert enrolled.stdout == f"person 3: 1 templates enrolled ({recognizer.model_id})\n"
    assert "gallery: decrypting" in enrolled.stderr and "2/2" in enrolled.stderr, enrolled.stderr
    assert "searching look-alikes" not in enrolled.stderr  # each template's record is stored: no search

    listed = _run("people", "confusable", "--min-score", "-1")
    assert "3 confusable pairs" in listed.stdout and "│ 1 Alice  │ 2 Bob" in listed.stdout, listed.stdout
    assert "gallery" not in listed.stdout and "3/3" not in listed.stdout, listed.stdout
    said = " ".join(listed.stderr.split())
    assert "gallery: decrypting" in said and "gallery: searching look-alikes" in said, said
    assert said.count("3/3") == 2, said  # decrypted and searched: every template (below the threshold)
