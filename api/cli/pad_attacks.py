"""`facegate pad make-attacks`: render simulated screen-replay and print attacks from bona fide photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer

from api.cli.consoles import console, err_console
from recognition import (
    ATTACK_SPECIES,
    BgrImage,
    attack_still,
    attack_video,
    bona_fide_video,
    fill_warp_padding,
    image_paths,
)

VIDEO_FPS = 15.0


def make_attacks_command(
    data: Annotated[Path, typer.Option("--data", help="Folder of bona fide photos (searched recursively).")],
    out: Annotated[Path, typer.Option("--out", help="Writes bona_fide/ and attack/<species>/ here.")],
    limit: Annotated[int, typer.Option(min=1, help="Use at most this many photos (evenly spaced).")] = 200,
    videos: Annotated[
        int, typer.Option(min=0, help="Also write this many videos per class under videos/.")
    ] = 0,
    video_frames: Annotated[int, typer.Option(min=2, help="Frames per video.")] = 12,
    seed: Annotated[int, typer.Option(help="Random seed (the same seed writes the same data).")] = 0,
    is_warp_padding_filled: Annotated[
        bool,
        typer.Option(
            "--fill-warp-padding",
            help="Inpaint each photo's black warp border (deep-funnelled LFW) first: the bona fide copy and "
            "every attack then show the filled photo, not a black frame inside the phone or print.",
        ),
    ] = False,
    species_written: Annotated[
        list[str] | None,
        typer.Option(
            "--species",
            help=f"Write only this species (repeatable; default all: {', '.join(ATTACK_SPECIES)}). Every "
            "species is still rendered, so a seed writes the same stills of a species whichever are chosen.",
        ),
    ] = None,
) -> None:
    """Make SIMULATED screen-replay and print attacks from bona fide photos (stills, optional videos)."""
    unknown = sorted(set(species_written or ()) - set(ATTACK_SPECIES))
    if unknown:
        raise typer.BadParameter(
            f"unknown species {unknown}; known: {list(ATTACK_SPECIES)}", param_hint="--species"
        )
    written = tuple(s for s in ATTACK_SPECIES if s in (species_written or ATTACK_SPECIES))
    paths = image_paths(data)
    if not paths:
        err_console.print(f"error: no photos under {data}", markup=False, highlight=False)
        raise typer.Exit(1)
    chosen = paths[:: max(1, len(paths) // limit)][:limit]
    rng = np.random.default_rng(seed)
    for folder in ("bona_fide", *(f"attack/{species}" for species in written)):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(chosen):
        loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if loaded is None:
            continue
        photo: BgrImage = np.asarray(loaded, dtype=np.uint8)
        if is_warp_padding_filled:
            photo = fill_warp_padding(photo)
        name = f"{index:05d}_{path.stem}.jpg"
        cv2.imwrite(str(out / "bona_fide" / name), photo)
        for species in ATTACK_SPECIES:
            still = attack_still(photo, species, rng)
            if species in written:
                cv2.imwrite(str(out / "attack" / species / name), still)
        if index < videos:
            stem = f"{index:05d}_{path.stem}"
            _write_videos(out / "videos", photo, stem, rng, frames=video_frames, written=written)
    console.print(
        f"{len(chosen)} bona fide photos and {len(chosen) * len(written)} simulated attacks in {out}"
        + (f"; {min(videos, len(chosen))} videos per class in {out / 'videos'}" if videos else ""),
        markup=False,
        highlight=False,
    )


def _write_videos(
    root: Path, photo: BgrImage, stem: str, rng: np.random.Generator, *, frames: int, written: tuple[str, ...]
) -> None:
    (root / "bona_fide").mkdir(parents=True, exist_ok=True)
    _write_video(root / "bona_fide" / f"{stem}.avi", bona_fide_video(photo, rng, frames=frames), VIDEO_FPS)
    for species in ATTACK_SPECIES:
        clip = attack_video(photo, species, rng, frames=frames)
        if species in written:
            (root / "attack" / species).mkdir(parents=True, exist_ok=True)
            _write_video(root / "attack" / species / f"{stem}.avi", clip, VIDEO_FPS)


def _write_video(path: Path, frames: list[BgrImage], fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
