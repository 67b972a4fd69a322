"""A folder of LFW photos of people no earlier PAD measurement used, for a prospective check (one per person).

Excluded people (each source's set is printed with its size):
- the calibration folders: every `--exclude-every-nth-person`th person folder from `--exclude-person-offset`
  (the card's LFW calibration; every 20th from 19, the first one, lies inside every 5th from 4);
- `--exclude-evenly-spaced LIMIT` (repeatable): the people of the photos `facegate pad make-attacks --limit
  LIMIT` picks from the whole of LFW (evenly spaced in sorted order, whatever the seed);
- `--exclude-held-evenly-spaced LIMIT` (repeatable): the same pick from the photos of the folders outside the
  calibration selection (BENCHMARKS' `LFW_HELD`, from which SIMF, SIMR and SIMFV were made);
- `--exclude-people-in DIR` (repeatable): the people named by the photos in DIR (`[NNNNN_]Name_NNNN.ext`,
  as make-attacks and bench/lfw_unpadded.py name them), a check of the reconstruction on folders at hand;
- `--exclude-person NAME` (repeatable): e.g. LFW's folder of a knn example's person.

Then `recognition.people_outside` draws `--count` of the remaining person folders with `--seed` and links the
first photo of each into OUT. The JSON line printed last says how many each source excluded and checks
that OUT shares no person with any of them.

    PYTHONPATH=. .venv/bin/python bench/pad_fresh_people.py --lfw ../shared/data/faces/lfw/lfw-deepfunneled \
        --out FRESH_LFW --count 1000 --seed 33 --exclude-evenly-spaced 300 --exclude-evenly-spaced 290 \
        --exclude-held-evenly-spaced 300 --exclude-people-in SIM/bona_fide --exclude-person Joseph_Biden
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

from recognition import image_paths, people_outside

_PHOTO_NAME = re.compile(r"^(?:\d{5}_)?(?P<person>.+)_\d{4}$")


def _person(photo: Path) -> str:
    """LFW person of a photo named `[NNNNN_]Name_NNNN.ext`."""
    found = _PHOTO_NAME.match(photo.stem)
    if found is None:
        raise SystemExit(f"{photo} is not named like an LFW photo")
    return found["person"]


def _evenly_spaced(paths: list[Path], limit: int) -> set[str]:
    """The people of the photos make-attacks --limit picks: paths[::len // limit][:limit]."""
    return {path.parent.name for path in paths[:: max(1, len(paths) // limit)][:limit]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lfw", type=Path, required=True, help="LFW's folder of person folders")
    parser.add_argument("--out", type=Path, required=True, help="links the chosen photos here")
    parser.add_argument("--count", type=int, required=True, help="people (one photo each)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--exclude-every-nth-person", type=int, default=5)
    parser.add_argument("--exclude-person-offset", type=int, default=4)
    parser.add_argument("--exclude-evenly-spaced", type=int, action="append", default=[], metavar="LIMIT")
    parser.add_argument(
        "--exclude-held-evenly-spaced", type=int, action="append", default=[], metavar="LIMIT"
    )
    parser.add_argument("--exclude-people-in", type=Path, action="append", default=[], metavar="DIR")
    parser.add_argument("--exclude-person", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    folders = sorted((p for p in args.lfw.iterdir() if p.is_dir()), key=lambda p: p.name)
    nth, offset = args.exclude_every_nth_person, args.exclude_person_offset
    held = [p for index, p in enumerate(folders) if index % nth != offset]
    sources: dict[str, set[str]] = {
        f"calibration folders (every {nth}th from {offset})": {p.name for p in folders[offset::nth]}
    }
    everything = image_paths(args.lfw)
    held_photos = sorted(path for folder in held for path in image_paths(folder))
    for limit in args.exclude_evenly_spaced:
        sources[f"make-attacks --limit {limit} on LFW"] = _evenly_spaced(everything, limit)
    for limit in args.exclude_held_evenly_spaced:
        sources[f"make-attacks --limit {limit} on LFW_HELD"] = _evenly_spaced(held_photos, limit)
    for folder in args.exclude_people_in:
        sources[f"people in {folder}"] = {_person(path) for path in image_paths(folder)}
    if args.exclude_person:
        sources["named"] = set(args.exclude_person)
    excluded = set().union(*sources.values())
    selection = people_outside(args.lfw, excluded=excluded, count=args.count, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in selection.paths:
        (args.out / path.name).symlink_to(path.resolve())
    chosen = {_person(path) for path in image_paths(args.out)}
    report = {
        "people_in_lfw": len(folders),
        "excluded_by_source": {name: len(people) for name, people in sources.items()},
        "excluded": len(excluded),
        "eligible": len(folders) - len(excluded & {p.name for p in folders}),
        "chosen_people": len(chosen),
        "photos": len(selection.paths),
        "shared_with_each_source": {name: len(chosen & people) for name, people in sources.items()},
        "rule": selection.rule,
        "sha256": selection.sha256,
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
