"""Safe image decoding shared by every local engine.

Uploaded images are untrusted: decoding must fail with a clear, typed error for a
truncated file, a non-image, or a decompression bomb, and must honour the EXIF
orientation that phones write instead of rotating pixels.
"""

from __future__ import annotations

import io
import math
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: Pillow's bomb guard, set deliberately: 40 megapixels is far above any phone photo
#: of an ID (12-50 MP cameras are downscaled by upload clients) yet stops a crafted
#: 20000 x 20000 PNG from exhausting memory. Pillow raises DecompressionBombError at
#: twice this value and warns above it; we turn the warning into an error too.
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

#: Smallest side we accept for a document or selfie; smaller is not readable.
MIN_SIDE = 64


class ImageUnreadable(ValueError):
    """The bytes are not a usable image; ``str(exc)`` says why (no PII)."""


def load_image(data: bytes, *, mode: str = "RGB") -> Image.Image:
    """Decode untrusted image bytes.

    Args:
        data: the file's bytes.
        mode: Pillow mode to convert to (``RGB`` or ``L``).

    Returns:
        A fully loaded image, EXIF orientation applied.

    Raises:
        ImageUnreadable: empty, not an image, truncated, a decompression bomb, or
            smaller than MIN_SIDE pixels on a side.
    """
    return load_image_reduced(data, mode=mode, min_long_side=None)[0]


def load_image_reduced(
    data: bytes, *, mode: str = "RGB", min_long_side: int | None
) -> tuple[Image.Image, float]:
    """Decode untrusted image bytes, cheaply reduced when the caller needs fewer pixels.

    Same checks as :func:`load_image`. When ``min_long_side`` is given and the file
    is a JPEG whose long side is at least twice that, libjpeg decodes it at 1/2, 1/4
    or 1/8 scale (DCT scaling through ``Image.draft``): the largest reduction that
    keeps the long side at least ``min_long_side``. A 12 MP phone photo decodes
    several times faster that way and the caller's own resize has less to do.
    Other formats and smaller JPEGs decode at full size.

    Args:
        data: the file's bytes.
        mode: Pillow mode to convert to (``RGB`` or ``L``).
        min_long_side: long side the caller needs at least; None for full size.

    Returns:
        The image (EXIF orientation applied) and its scale relative to the stored
        image (1.0, 0.5, 0.25 or 0.125; per side, as ``decoded / stored``), so
        coordinates can be mapped back to the uploaded image's pixels.

    Raises:
        ImageUnreadable: as :func:`load_image`. The size check uses the stored
            size, so a reduced decode never makes a readable upload "too small".
    """
    if not data:
        raise ImageUnreadable("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            stored = opened.size
            if min_long_side is not None:
                _draft(opened, min_long_side)
            opened.load()  # force decoding now, so truncation is caught here
            img: Image.Image = ImageOps.exif_transpose(opened) or opened
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageUnreadable(f"image too large (decompression bomb guard): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageUnreadable("not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow raises OSError("image file is truncated ...") and friends.
        raise ImageUnreadable(f"corrupt image: {exc}") from exc
    if min(stored) < MIN_SIDE:
        raise ImageUnreadable(f"image too small: {stored[0]}x{stored[1]} px")
    # EXIF rotation only swaps the sides, so long side over long side is the scale.
    scale = max(img.size) / max(stored)
    return (img.convert(mode) if img.mode != mode else img), scale


def _draft(opened: Image.Image, min_long_side: int) -> None:
    """Ask a JPEG decoder for the smallest DCT scale whose long side is >= min_long_side.

    ``draft`` picks the largest 1/2^k reduction that keeps both sides at least the
    requested size, so we request the image's own aspect ratio at the wanted long
    side (EXIF rotation only swaps the sides, so the long side is the same before it).
    """
    if opened.format != "JPEG" or min_long_side < 1:
        return
    width, height = opened.size
    long_side = max(width, height)
    if long_side < 2 * min_long_side:
        return
    ratio = min_long_side / long_side
    opened.draft(opened.mode, (math.ceil(width * ratio), math.ceil(height * ratio)))


def rotated(img: Image.Image, angle: float, *, expand: bool = True) -> Image.Image:
    """``img`` turned ``angle`` degrees counter-clockwise, on a canvas that holds it all.

    The corners the turn uncovers repeat the image's edge: a blank wedge there would
    draw a long diagonal edge through the rows below the MRZ. ``expand=False`` keeps
    the canvas (and so the scale the band finder sees) and loses the corners.
    """
    a = np.asarray(img)
    h, w = a.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = (int(h * sin + w * cos), int(h * cos + w * sin)) if expand else (w, h)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(a, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)
