"""Copies of photos with deep funnelling's black warp padding filled in, for the PAD bench's lockout figures.

LFW's deep-funnelled photos carry the rotated border of the original photo, a straight-sided frame around
the face that a door camera never shows (recognition/evaluation/padding.py). This writes each photo under
DATA (recursively) as OUT/<stem>.png with that padding inpainted, and prints one JSON line: how many photos
there were and how many had padding.

    PYTHONPATH=. .venv/bin/python bench/lfw_unpadded.py --data SIM/bona_fide --out LFW_FILLED
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # as a script: the root, not bench/

import cv2
import numpy as np

from recognition import BgrImage, fill_warp_padding, image_paths, warp_padding_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--out", type=Path, required=True, help="writes <stem>.png here")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photos = padded = 0
    for path in image_paths(args.data):
        loaded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if loaded is None:
            continue
        image: BgrImage = np.asarray(loaded, dtype=np.uint8)
        photos += 1
        padded += bool(warp_padding_mask(image).any())
        cv2.imwrite(str(args.out / f"{path.stem}.png"), fill_warp_padding(image))
    sys.stdout.write(json.dumps({"photos": photos, "with_padding": padded}) + "\n")


if __name__ == "__main__":
    main()
