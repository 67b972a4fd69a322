"""`facegate enroll`: enroll a person from photo files or folders, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.consoles import console, err_console
from api.cli.progress import gallery_load_progress
from api.cli.runtime import cli_errors, image_files, open_runtime
from enrollment import EnrollmentResult, GalleryService, Photo, enroll, enroll_new_person
from recognition import image_suffixes
from storage import StorageSettings, session_scope


def enroll_command(
    name: Annotated[str, typer.Argument(help="Display name of the new person (ignored with --person-id).")],
    photos: Annotated[list[Path], typer.Argument(help="Photo files or folders of photos; one face each.")],
    person_id: Annotated[
        int | None, typer.Option(help="Add the photos to this existing person instead.")
    ] = None,
) -> None:
    """Enroll a person: every photo must show exactly one usable face, or nothing is saved."""
    with cli_errors(), open_runtime(StorageSettings()) as runtime:
        files, left_out = image_files(photos)
        if left_out:
            names = ", ".join(str(path) for path in left_out)
            suffixes = " ".join(image_suffixes())
            err_console.print(f"warning: left out, not {suffixes}: {names}", highlight=False)
        if not files:
            err_console.print(
                "error: no photo to enroll: the folders given hold no image file", highlight=False
            )
            raise typer.Exit(1)
        loaded = _read_photos(files, max_bytes=runtime.recognizer.limits.max_image_bytes)
        with session_scope(runtime.engine) as session, gallery_load_progress() as progress:
            services = (runtime.keyring, runtime.recognizer)
            # The gallery the photos are compared with, loaded in full with a progress bar.
            gallery = GalleryService(*services, progress=progress)
            if person_id is None:
                target_id, result = enroll_new_person(
                    session,
                    *services,
                    name=name,
                    photos=loaded,
                    settings=runtime.enrollment,
                    pad=runtime.pad,
                    gallery=gallery,
                )
            else:
                target_id = person_id
                result = enroll(
                    session,
                    *services,
                    person_id=person_id,
                    photos=loaded,
                    settings=runtime.enrollment,
                    pad=runtime.pad,
                    gallery=gallery,
                )
    console.print(
        f"person {target_id}: {len(result.template_ids)} templates enrolled ({runtime.recognizer.model_id})"
    )
    print_possible_duplicates(result, threshold=runtime.recognizer.cos_threshold)


def _read_photos(files: list[Path], *, max_bytes: int) -> list[Photo]:
    """The files' bytes, once each is known to be a file within the byte limit by its size on disk, so
    that an oversized one is refused before a byte of it is read (in the API's 413 words)."""
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        err_console.print(f"error: not a file: {', '.join(missing)}", highlight=False)
        raise typer.Exit(1)
    oversized = [path for path in files if path.stat().st_size > max_bytes]
    for path in oversized:
        err_console.print(
            f"error: {path}: the file is larger than the limit of {max_bytes} bytes"
            " (FACEGATE_RECOGNITION_LIMITS__MAX_IMAGE_BYTES)",
            highlight=False,
        )
    if oversized:
        raise typer.Exit(1)
    photos = []
    for path in files:
        with path.open("rb") as file:  # one grown since is read no further than the decoder's refusal
            photos.append(Photo(name=path.name, data=file.read(max_bytes + 1)))
    return photos


def print_possible_duplicates(result: EnrollmentResult, *, threshold: float) -> None:
    """One warning line on stderr per photo that matches a different enrolled person (stdout keeps the
    result line alone, for scripts)."""
    for duplicate in result.possible_duplicates:
        err_console.print(
            f"warning: possible duplicate: {duplicate.photo} matches person {duplicate.person_id} "
            f"(score {duplicate.score:.3f}, threshold {threshold:.3f})",
            highlight=False,
        )
