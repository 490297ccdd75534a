"""Replay attacks made from a rendered card or a face photo (calibration and tests).

A replay is a selfie that is not a live capture: the card's own portrait
photographed (held up to the camera at an angle, near or far, blurred, badly
exposed, cropped), the whole card photographed, a print of a photo (halftone dots)
or a photo shown on a screen (RGB subpixel stripes, moiré once re-sampled by the
camera). ``make bench-replay`` calibrates the replay check on these against genuine
selfies; the replay tests draw their attacks from here too, so that both see the
same attacks.

Every function is deterministic for a given ``random.Random`` state.
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageFilter

from kyc.demo.cards import PORTRAIT_BOX


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    """The image as JPEG bytes."""
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def tilt(img: Image.Image, rng: random.Random, strength: float) -> Image.Image:
    """The image seen at an angle: each corner moved inwards by up to ``strength`` x side.

    One side is shortened more than the other (a card held turned away from the
    camera), the rest is jitter.
    """
    w, h = img.size
    dx, dy = strength * w, strength * h
    near = rng.random() < 0.5  # which side is turned away
    jit = 0.25
    left_in = dy * (1.0 if near else jit) * rng.uniform(0.5, 1.0)
    right_in = dy * (jit if near else 1.0) * rng.uniform(0.5, 1.0)
    # QUAD: the source corners (upper left, lower left, lower right, upper right)
    # that map onto the output's corners.
    quad = (
        -rng.uniform(0, dx * jit),
        -left_in,
        -rng.uniform(0, dx * jit),
        h + left_in,
        w + rng.uniform(0, dx * jit),
        h + right_in,
        w + rng.uniform(0, dx * jit),
        -right_in,
    )
    return img.transform(
        (w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)
    )


def capture(
    img: Image.Image,
    rng: random.Random,
    *,
    angle: float = 0.05,
    scale: tuple[float, float] = (1.6, 2.6),
    blur: tuple[float, float] = (0.5, 1.5),
) -> bytes:
    """What a phone camera makes of ``img`` held in front of it.

    Scale (distance), perspective (``angle`` as the fraction of the side a corner
    moves), a small roll, defocus blur, exposure (gamma and gain), sensor noise and
    JPEG at a random quality.
    """
    s = rng.uniform(*scale)
    img = img.resize(
        (max(32, round(img.width * s)), max(32, round(img.height * s))), Image.Resampling.BICUBIC
    )
    if angle > 0:
        img = tilt(img, rng, rng.uniform(angle / 3, angle))
    img = img.rotate(
        rng.uniform(-6, 6), Image.Resampling.BICUBIC, expand=False, fillcolor=(120, 120, 120)
    )
    radius = rng.uniform(*blur)
    if radius > 0:
        img = img.filter(ImageFilter.GaussianBlur(radius))
    arr = np.asarray(img, dtype=np.float64) / 255.0
    arr = np.clip(arr ** rng.uniform(0.7, 1.35) * rng.uniform(0.8, 1.15), 0, 1)
    noise = np.random.default_rng(rng.randint(0, 10**6)).normal(
        0, rng.uniform(0.005, 0.02), arr.shape
    )
    out = Image.fromarray((np.clip(arr + noise, 0, 1) * 255).astype(np.uint8))
    return jpeg(out, rng.randint(65, 93))


def portrait_crop(
    card: bytes, rng: random.Random, *, margin: tuple[int, int] = (-10, 60)
) -> Image.Image:
    """The card's portrait with a random margin around its box.

    A negative margin crops into the portrait; a large one brings the card's border
    and text in.
    """
    img = _open(card)
    left, top, right, bottom = PORTRAIT_BOX
    m = rng.randint(*margin)
    return img.crop(
        (max(0, left - m), max(0, top - m), min(img.width, right + m), min(img.height, bottom + m))
    )


def rephotographed_portrait(card: bytes, rng: random.Random, *, angle: float = 0.05) -> bytes:
    """The card's portrait photographed by a phone held close.

    Crop, scale, angle, blur and exposure vary (see :func:`capture`).
    """
    return capture(portrait_crop(card, rng), rng, angle=angle)


def photographed_card(card: bytes, rng: random.Random, *, angle: float = 0.12) -> bytes:
    """The whole card photographed at arm's length on a table (the portrait is small)."""
    img = _open(card)
    pad = rng.randint(20, 120)
    table = Image.new(
        "RGB",
        (img.width + 2 * pad, img.height + 2 * pad),
        tuple(rng.randint(40, 200) for _ in range(3)),
    )
    table.paste(img, (pad, pad))
    return capture(table, rng, angle=angle, scale=(0.7, 1.1), blur=(0.3, 1.0))


def halftone(img: Image.Image, lines: float, angle_deg: float) -> Image.Image:
    """``img`` printed with a halftone screen of ``lines`` dot rows across its width."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    h, w = arr.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    a = math.radians(angle_deg)
    u = (x * math.cos(a) + y * math.sin(a)) * lines / w * 2 * math.pi
    v = (-x * math.sin(a) + y * math.cos(a)) * lines / w * 2 * math.pi
    screen = (np.cos(u) * np.cos(v) + 1) / 2  # dot pattern 0..1
    out = arr * (0.6 + 0.4 * screen[..., None])
    return Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))


def printed(img: Image.Image, rng: random.Random, *, angle: float = 0.08) -> bytes:
    """``img`` printed (halftone, 60-120 dot rows across) and photographed at an angle."""
    # The screen is laid on the picture at about the size it is photographed at, so
    # that the dots survive as dots (the camera's resolution bounds what it can hold).
    base = img.resize(
        (max(32, round(img.width * 1.5)), max(32, round(img.height * 1.5))),
        Image.Resampling.BICUBIC,
    )
    dotted = halftone(base, rng.uniform(60, 120), rng.uniform(0, 45))
    return capture(dotted, rng, angle=angle, scale=(0.9, 1.2), blur=(0.0, 0.6))


def screen(img: Image.Image, rng: random.Random, *, angle: float = 0.08) -> bytes:
    """``img`` shown on a screen and photographed: RGB subpixel stripes, moiré, glow."""
    # The picture at the screen's resolution, each screen pixel drawn as three
    # vertical R, G, B stripes of 3 px with a dark gap (the subpixel mask); the camera
    # then samples that grid at a scale that is no multiple of it, hence moiré.
    pixels = rng.randint(110, 200)  # screen pixels across the picture's width
    small = img.resize(
        (pixels, max(8, round(img.height * pixels / img.width))), Image.Resampling.BICUBIC
    )
    arr = np.asarray(small, dtype=np.float64) / 255.0
    big = np.repeat(np.repeat(arr, 3, axis=0), 3, axis=1)
    mask = np.zeros((3, 3, 3))
    for c in range(3):
        mask[:2, c, c] = 1.0  # stripe c lights channel c; the third row is the gap
    tiled = np.tile(mask, (arr.shape[0], arr.shape[1], 1))
    lit = np.clip(big * tiled * 2.2 + 0.04, 0, 1)  # emissive, slightly raised black
    shown = Image.fromarray((lit * 255).astype(np.uint8))
    target = rng.uniform(350, 650) / shown.width  # the camera's sampling of the grid
    return capture(shown, rng, angle=angle, scale=(target, target * 1.05), blur=(0.8, 1.6))


__all__ = [
    "capture",
    "halftone",
    "jpeg",
    "photographed_card",
    "portrait_crop",
    "printed",
    "rephotographed_portrait",
    "screen",
    "tilt",
]
