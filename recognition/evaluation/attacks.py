"""Simulated presentation attacks made from bona fide photos: screen replays and prints, stills and videos.

Nothing here is a real attack. Each attack re-renders a bona fide photo the way an attacker's artefact
would show it to a door camera, so that PAD can be developed and regression-tested without a licensed
attack data set; figures measured on these are reported apart from real ones and claim nothing about the
real world.

Screen replay: the photo is resampled onto a display's pixel grid (RGB sub-pixel stripes, which alias
into moiré when the camera re-samples them), shown with the display's gamma, black level and white-balance
shift, framed by a phone or monitor bezel held by a hand, seen in perspective, with a glare highlight,
then recaptured (defocus blur, sensor noise, JPEG). Print: the photo is halftoned (a rotated dot screen per
ink), squeezed into paper's dynamic range and tint, textured, given a white paper border, bent (a cylinder
warp with shading), held by a hand, seen in perspective and recaptured the same way.

All randomness comes from the `numpy.random.Generator` passed in (B4), so a seed reproduces a data set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from recognition.types import BgrImage

FRAME_W_PX, FRAME_H_PX = 640, 480
SPECIES = ("screen_replay", "print")
MAX_SOURCE_SIDE_PX = 400


@dataclass(frozen=True)
class Artefact:
    """The attack instrument before capture: its image (BGR) and how tall it appears in the frame."""

    image: BgrImage
    height_fraction: float


def _background(rng: np.random.Generator) -> BgrImage:
    """A plain wall-and-door scene: a vertical gradient with a darker door-frame band and noise."""
    top, bottom = rng.uniform(90, 200, 3), rng.uniform(60, 170, 3)
    ramp = np.linspace(0.0, 1.0, FRAME_H_PX)[:, None, None]
    scene = (top * (1 - ramp) + bottom * ramp) * np.ones((1, FRAME_W_PX, 1))
    band_x = int(rng.integers(0, FRAME_W_PX - 60))
    scene[:, band_x : band_x + 40] *= 0.7
    scene += rng.normal(0, 3, scene.shape)
    return np.clip(scene, 0, 255).astype(np.uint8)


def _display(photo: BgrImage, rng: np.random.Generator) -> BgrImage:
    """The photo on an LCD: its pixel grid as RGB stripes, gamma, black level and a white-balance shift."""
    screen_w = int(rng.integers(150, 260))
    screen_h = int(round(screen_w * photo.shape[0] / photo.shape[1]))
    pixels = cv2.resize(photo, (screen_w, screen_h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    pixels = pixels ** rng.uniform(0.8, 1.25)  # display gamma differs from the camera's
    pixels = 0.06 + 0.9 * pixels  # black level and peak luminance
    pixels *= np.array([rng.uniform(1.0, 1.15), rng.uniform(0.95, 1.05), rng.uniform(0.85, 1.0)])  # B,G,R
    flat = np.repeat(np.repeat(pixels, 3, axis=0), 3, axis=1)
    subpixel = np.zeros((1, 3, 3), np.float32)
    subpixel[0, [0, 1, 2], [2, 1, 0]] = 3.0  # columns R, G, B left to right (BGR channel order)
    stripes = flat * np.tile(subpixel, (1, screen_w, 1))
    stripes[2::3, :, :] *= 0.6  # dark gaps between pixel rows
    grid_weight = rng.uniform(0.15, 0.45)  # how much of the grid survives the camera's optics
    shown = (1 - grid_weight) * flat + grid_weight * stripes
    return np.asarray(np.clip(shown * 255, 0, 255), dtype=np.uint8)


def _glare(image: BgrImage, rng: np.random.Generator) -> BgrImage:
    """A soft elliptical specular highlight (a lamp reflected in glass)."""
    height, width = image.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.6) * height
    sx, sy = rng.uniform(0.15, 0.4) * width, rng.uniform(0.05, 0.2) * height
    glow = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2)) * rng.uniform(60, 150)
    return np.asarray(np.clip(image.astype(np.float32) + glow[..., None], 0, 255), dtype=np.uint8)


def screen_artefact(photo: BgrImage, rng: np.random.Generator) -> Artefact:
    """A phone (portrait, thin bezel) or a monitor/tablet (thicker bezel) showing the photo."""
    shown = _glare(_display(photo, rng), rng)
    bezel = int(rng.uniform(0.04, 0.12) * shown.shape[1])
    colour = rng.uniform(5, 40)
    device = np.full((shown.shape[0] + 2 * bezel, shown.shape[1] + 2 * bezel, 3), colour, np.uint8)
    device[bezel:-bezel, bezel:-bezel] = shown
    return Artefact(device, rng.uniform(0.55, 0.9))


def _halftone(photo: BgrImage, rng: np.random.Generator) -> np.ndarray:
    """Clustered-dot halftone per ink channel on a rotated screen (print resolution ≈ 3× the photo)."""
    upscaled = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    height, width = upscaled.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(3.5, 6.0)
    out = np.empty_like(upscaled)
    for channel, angle_deg in zip(range(3), (15.0, 75.0, 45.0), strict=True):
        angle = math.radians(angle_deg + rng.uniform(-5, 5))
        u = xx * math.cos(angle) + yy * math.sin(angle)
        v = -xx * math.sin(angle) + yy * math.cos(angle)
        screen = (np.cos(2 * math.pi * u / period) * np.cos(2 * math.pi * v / period) + 1) / 2
        out[:, :, channel] = (upscaled[:, :, channel] > screen).astype(np.float32)
    return np.asarray(cv2.GaussianBlur(out, (0, 0), 0.8))  # ink spread


def print_artefact(photo: BgrImage, rng: np.random.Generator) -> Artefact:
    """A printed photo on paper: halftone, paper tint and texture, reduced range, white border, bend."""
    dots_weight = rng.uniform(0.3, 0.7)  # laser halftone (1) to fine inkjet dithering (0)
    continuous = cv2.resize(photo, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    ink = dots_weight * _halftone(photo, rng) + (1 - dots_weight) * continuous
    low, high = rng.uniform(0.08, 0.2), rng.uniform(0.8, 0.93)
    paper_tint = np.array([rng.uniform(0.85, 0.95), rng.uniform(0.92, 0.98), 1.0], np.float32)
    printed = (low + (high - low) * ink) * paper_tint
    texture = cv2.GaussianBlur(rng.normal(1.0, 0.05, printed.shape[:2]).astype(np.float32), (0, 0), 2.0)
    printed *= texture[..., None]
    margin = int(rng.uniform(0.05, 0.15) * printed.shape[1])
    sheet = np.ones((printed.shape[0] + 2 * margin, printed.shape[1] + 2 * margin, 3), np.float32)
    sheet *= paper_tint * high
    sheet[margin:-margin, margin:-margin] = printed
    return Artefact(np.clip(_bend(sheet, rng) * 255, 0, 255).astype(np.uint8), rng.uniform(0.6, 0.95))


def _bend(sheet: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cylinder bend about the vertical axis: columns compressed towards the edges, shaded."""
    height, width = sheet.shape[:2]
    curvature = rng.uniform(0.05, 0.6)
    arc = curvature * math.pi / 2  # half the angle the bent sheet spans
    xs = np.linspace(-1, 1, width, dtype=np.float32)
    # Seen from the front, the point at xs lies at arc angle asin(xs·sin(arc)): edges foreshortened.
    source_x = (np.arcsin(xs * math.sin(arc)) / arc + 1) / 2
    map_x = np.tile(source_x * (width - 1), (height, 1)).astype(np.float32)
    map_y = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    bent = cv2.remap(sheet, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    shade = 1 - curvature * 0.25 * xs**2 * (1 if rng.uniform() < 0.5 else -0.6)
    return np.asarray(bent * shade[None, :, None])


ARTEFACTS: dict[str, Callable[[BgrImage, np.random.Generator], Artefact]] = {
    "screen_replay": screen_artefact,
    "print": print_artefact,
}


@dataclass(frozen=True)
class Pose:
    """Where the artefact sits in the frame: centre, height, in-plane angle and out-of-plane tilts."""

    centre_x_px: float
    centre_y_px: float
    height_px: float
    roll_deg: float
    yaw: float
    pitch: float


def random_pose(artefact: Artefact, rng: np.random.Generator) -> Pose:
    return Pose(
        centre_x_px=FRAME_W_PX / 2 + rng.uniform(-80, 80),
        centre_y_px=FRAME_H_PX / 2 + rng.uniform(-30, 30),
        height_px=FRAME_H_PX * artefact.height_fraction,
        roll_deg=rng.uniform(-12, 12),
        yaw=rng.uniform(-0.25, 0.25),
        pitch=rng.uniform(-0.15, 0.15),
    )


def _corners(artefact: Artefact, pose: Pose) -> np.ndarray:
    """The artefact's four corners in the frame: scaled, rotated, with a perspective foreshortening."""
    aspect = artefact.image.shape[1] / artefact.image.shape[0]
    half_h, half_w = pose.height_px / 2, pose.height_px * aspect / 2
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    corners[:, 1] *= 1 + pose.yaw * np.sign(corners[:, 0])  # the nearer side looks taller
    corners[:, 0] *= 1 + pose.pitch * np.sign(corners[:, 1])
    angle = math.radians(pose.roll_deg)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.asarray(corners @ rotation.T + [pose.centre_x_px, pose.centre_y_px], np.float32)


def _hand(frame: BgrImage, corners: np.ndarray, rng: np.random.Generator) -> None:
    """Fingers and a thumb over the artefact's lower edge, in a skin tone."""
    red = rng.uniform(150, 235)
    skin = np.array([red * rng.uniform(0.5, 0.7), red * rng.uniform(0.7, 0.85), red])  # B < G < R
    bottom_left, bottom_right = corners[3], corners[2]
    for t in rng.uniform(0.1, 0.9, int(rng.integers(1, 4))):
        x, y = bottom_left + t * (bottom_right - bottom_left)
        axes = (int(rng.uniform(10, 18)), int(rng.uniform(25, 45)))
        cv2.ellipse(frame, (int(x), int(y)), axes, rng.uniform(-20, 20), 0, 360, skin.tolist(), -1)
    palm = (int((bottom_left[0] + bottom_right[0]) / 2), int(max(bottom_left[1], bottom_right[1]) + 40))
    cv2.ellipse(frame, palm, (70, 50), 0, 0, 360, skin.tolist(), -1)


def _recapture(frame: BgrImage, rng: np.random.Generator) -> BgrImage:
    """The door camera: defocus blur, sensor noise and JPEG compression."""
    blurred = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.4, 1.3))
    noisy = blurred.astype(np.float32) + rng.normal(0, rng.uniform(1.5, 5.0), frame.shape)
    clipped = np.clip(noisy, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", clipped, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 92))])
    assert ok
    return cv2.imdecode(encoded, cv2.IMREAD_COLOR)  # type: ignore[return-value]


def capture(artefact: Artefact, pose: Pose, background: BgrImage, rng: np.random.Generator) -> BgrImage:
    """One 640×480 door-camera frame of the artefact held up in front of `background`."""
    height, width = artefact.image.shape[:2]
    source = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    corners = _corners(artefact, pose)
    homography = cv2.getPerspectiveTransform(source, corners)
    frame = background.copy()
    warped = cv2.warpPerspective(artefact.image, homography, (FRAME_W_PX, FRAME_H_PX), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((height, width), np.uint8), homography, (FRAME_W_PX, FRAME_H_PX))
    frame[mask > 0] = warped[mask > 0]
    _hand(frame, corners, rng)
    return _recapture(frame, rng)


def _limited(photo: BgrImage) -> BgrImage:
    """The photo with its longer side at most MAX_SOURCE_SIDE_PX (the frame cannot show more)."""
    scale = MAX_SOURCE_SIDE_PX / max(photo.shape[:2])
    if scale >= 1:
        return photo
    return np.asarray(cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), np.uint8)


def attack_still(photo: BgrImage, species: str, rng: np.random.Generator) -> BgrImage:
    """One simulated attack frame of `species` (`screen_replay` or `print`) made from a bona fide photo."""
    artefact = ARTEFACTS[species](_limited(photo), rng)
    return capture(artefact, random_pose(artefact, rng), _background(rng), rng)


def attack_video(photo: BgrImage, species: str, rng: np.random.Generator, *, frames: int) -> list[BgrImage]:
    """A short clip: the artefact held up with hand tremor and a slow drift (one artefact, one scene)."""
    artefact = ARTEFACTS[species](_limited(photo), rng)
    pose, background = random_pose(artefact, rng), _background(rng)
    clip = []
    for index in range(frames):
        drift = index / max(1, frames - 1)
        moved = Pose(
            centre_x_px=pose.centre_x_px + 20 * drift + rng.normal(0, 1.5),
            centre_y_px=pose.centre_y_px + rng.normal(0, 1.5),
            height_px=pose.height_px * (1 + 0.05 * drift),
            roll_deg=pose.roll_deg + rng.normal(0, 0.7),
            yaw=pose.yaw + 0.05 * drift,
            pitch=pose.pitch,
        )
        clip.append(capture(artefact, moved, background, rng))
    return clip


def bona_fide_video(photo: BgrImage, rng: np.random.Generator, *, frames: int) -> list[BgrImage]:
    """The photo itself pasted into the scene and drifting: the stand-in for a live face used by the gate
    bench and demo (a still, so it cannot show a live head's 3-D motion)."""
    background = _background(rng)
    scale = FRAME_H_PX * rng.uniform(0.6, 0.9) / photo.shape[0]
    resized = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    height, width = resized.shape[:2]
    width, height = min(width, FRAME_W_PX - 40), min(height, FRAME_H_PX)
    x0 = int(rng.uniform(0, FRAME_W_PX - width - 20))
    y0 = (FRAME_H_PX - height) // 2
    clip = []
    for index in range(frames):
        frame = background.copy()
        x = x0 + 20 * index // max(1, frames - 1)
        frame[y0 : y0 + height, x : x + width] = resized[:height, :width]
        clip.append(_recapture(frame, rng))
    return clip


def grey_frame(frame: BgrImage) -> BgrImage:
    """`frame` as a night/IR door camera delivers it: its luminance in all three channels (wholly grey)."""
    return np.asarray(cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), np.uint8)


def _feathered(photo: np.ndarray, feather: float) -> np.ndarray:
    """A 0..1 float mask of the photo's size, ramping up over `feather` of its width from each edge."""
    height, width = photo.shape[:2]
    ramp = max(1.0, feather * width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    to_edge = np.minimum(np.minimum(xx, width - 1 - xx), np.minimum(yy, height - 1 - yy))
    return np.asarray(np.clip(to_edge / ramp, 0.0, 1.0)[..., None])


def pose_sweep_video(poses: Sequence[BgrImage], rng: np.random.Generator, *, frames: int) -> list[BgrImage]:
    """A bona fide stand-in whose landmarks do not move as a plane: one person's photos in several head
    poses, in the caller's order (e.g. sorted by yaw), shown one after another as a head turning.

    Each clip picks a direction, a turning speed (0.3 to 1 pose per frame, so a pose may hold for a few
    frames) and a starting pose, a face height of 75–95% of the frame, a slow sideways drift, and blends the
    photo into the scene with a feathered edge (so no pasted rectangle shows), then recaptures each frame.
    It is still not a live face: the poses jump between photos (no intermediate frames), expression and
    lighting may change with them, and each photo is a still (ORL's are 92×112 grey, upscaled).
    """
    ordered = list(poses) if rng.uniform() < 0.5 else list(poses)[::-1]
    background = _background(rng)
    scale = min(
        FRAME_H_PX * rng.uniform(0.75, 0.95) / ordered[0].shape[0], (FRAME_W_PX - 60) / ordered[0].shape[1]
    )
    sized = [cv2.resize(p, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for p in ordered]
    height, width = sized[0].shape[:2]
    mask = _feathered(sized[0], 0.15)
    speed = rng.uniform(0.3, 1.0)
    start = rng.uniform(0, max(0.0, len(sized) - 1 - speed * (frames - 1)))
    x0 = int(rng.uniform(10, max(11, FRAME_W_PX - width - 30)))
    y0 = (FRAME_H_PX - height) // 2
    clip = []
    for index in range(frames):
        photo = sized[min(len(sized) - 1, int(start + speed * index))].astype(np.float32)
        frame = background.astype(np.float32)
        x = x0 + 20 * index // max(1, frames - 1)
        window = frame[y0 : y0 + height, x : x + width]
        frame[y0 : y0 + height, x : x + width] = mask * photo + (1 - mask) * window
        clip.append(_recapture(np.clip(frame, 0, 255).astype(np.uint8), rng))
    return clip
