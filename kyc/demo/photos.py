"""Harder versions of real face photos, for the face benchmarks and tests (issue 14).

Two families, both made from a real photo whose face box is known:

* :func:`twelve_megapixel`: the photo as a 4000 x 3000 (or 3000 x 4000) phone upload,
  either filling the frame (upscaled with a chosen resampler, optionally with sensor
  like sharpening and noise) or as a *wide* shot (the photo at 2.5x in the middle of
  a 12 MP frame of blurred blotches: the face is ~1/8 of the frame's width, as in a
  selfie taken at arm's length);
* :func:`hard_variant`: what makes the HOG detector miss a face in ordinary selfies:
  a close-up cutting the forehead and chin, a dark photo, a mask over mouth and
  chin, one eye hidden.

Pure Pillow / numpy, deterministic for a given seed.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

#: 12 MP frame (landscape; portrait photos get it turned).
TWELVE_MP = (4000, 3000)
#: Kinds of :func:`twelve_megapixel`.
TWELVE_MP_KINDS = (
    "fill-bicubic",
    "fill-lanczos",
    "fill-nearest",
    "fill-sensor",
    "wide-lanczos",
    "wide-sensor",
)
#: Scale of the photo inside the wide 12 MP frame.
WIDE_FACTOR = 2.5
#: Kinds of :func:`hard_variant`.
HARD_KINDS = ("closeup", "dark", "mask", "eye_hidden")

_RESAMPLERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
    "sensor": Image.Resampling.LANCZOS,
}


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    """``image`` as JPEG bytes."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _sensor(image: Image.Image, seed: int) -> Image.Image:
    """Phone-like processing: unsharp masking, then luminance noise (sigma 5)."""
    sharpened = image.filter(ImageFilter.UnsharpMask(radius=3, percent=120, threshold=2))
    pixels = np.asarray(sharpened).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0.0, 5.0, (image.height, image.width, 1))
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def twelve_megapixel(photo: Image.Image, kind: str, *, seed: int = 0) -> Image.Image:
    """``photo`` as a 12 MP upload of the given kind (see the module docstring).

    Args:
        photo: RGB photo.
        kind: one of ``TWELVE_MP_KINDS``.
        seed: noise seed of the ``*-sensor`` kinds.

    Raises:
        ValueError: unknown kind.
    """
    if kind not in TWELVE_MP_KINDS:
        raise ValueError(f"unknown 12 MP kind {kind!r}")
    frame_w, frame_h = TWELVE_MP if photo.width >= photo.height else TWELVE_MP[::-1]
    layout, resampler = kind.split("-")
    if layout == "fill":
        scale = min(frame_w / photo.width, frame_h / photo.height)
        size = (round(photo.width * scale), round(photo.height * scale))
        big = photo.resize(size, _RESAMPLERS[resampler])
    else:
        # The scene around the photo: out-of-focus blotches in the photo's mean
        # colour (not the photo stretched: that would put a second, huge face in it).
        rng = np.random.default_rng(seed)
        mean = np.asarray(photo, dtype=np.float32).reshape(-1, 3).mean(axis=0)
        blotches = mean + rng.normal(0.0, 40.0, (frame_h // 100, frame_w // 100, 3))
        big = Image.fromarray(np.clip(blotches, 0, 255).astype(np.uint8)).resize(
            (frame_w, frame_h), Image.Resampling.BICUBIC
        )
        size = (round(photo.width * WIDE_FACTOR), round(photo.height * WIDE_FACTOR))
        subject = photo.resize(size, Image.Resampling.LANCZOS)
        big.paste(subject, ((frame_w - size[0]) // 2, (frame_h - size[1]) // 2))
    return _sensor(big, seed) if resampler == "sensor" else big


def hard_variant(
    photo: Image.Image, face: tuple[float, float, float, float], kind: str
) -> Image.Image:
    """``photo`` made hard for the HOG detector in one way.

    Args:
        photo: RGB photo.
        face: the face box ``(left, top, right, bottom)`` in ``photo``'s pixels (a
            detector's box: brows to mouth, ear to ear roughly).
        kind: one of ``HARD_KINDS``: ``closeup`` (cropped inside the face box
            sideways and above, resized to 800 px wide: a selfie too close to the
            camera), ``dark`` (brightness x0.15, contrast x0.6), ``mask`` (a blue
            mask from just under the nose to below the chin), ``eye_hidden`` (one eye
            and cheek covered).

    Raises:
        ValueError: unknown kind.
    """
    left, top, right, bottom = face
    width = right - left
    if kind == "closeup":
        inset = 0.08 * width
        cropped = photo.crop(
            (
                round(left + inset),
                round(top + inset - 0.1 * width),
                round(right - inset),
                round(bottom - inset),
            )
        )
        return cropped.resize((800, round(800 * cropped.height / cropped.width)))
    if kind == "dark":
        return ImageEnhance.Contrast(ImageEnhance.Brightness(photo).enhance(0.15)).enhance(0.6)
    covered = photo.copy()
    draw = ImageDraw.Draw(covered)
    if kind == "mask":
        draw.rectangle((left, top + 0.55 * width, right, bottom + 0.1 * width), fill=(30, 60, 160))
    elif kind == "eye_hidden":
        draw.rectangle(
            (left - 0.1 * width, top + 0.2 * width, (left + right) / 2, top + 0.5 * width),
            fill=(10, 10, 10),
        )
    else:
        raise ValueError(f"unknown hard kind {kind!r}")
    return covered


__all__ = [
    "HARD_KINDS",
    "TWELVE_MP",
    "TWELVE_MP_KINDS",
    "WIDE_FACTOR",
    "hard_variant",
    "jpeg",
    "twelve_megapixel",
]
