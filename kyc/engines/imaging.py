"""Safe image decoding shared by every local engine.

Uploaded images are untrusted: decoding must fail with a clear, typed error for a
truncated file, a non-image, or a decompression bomb, and must honour the EXIF
orientation that phones write instead of rotating pixels.
"""

from __future__ import annotations

import io
import warnings

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
    if not data:
        raise ImageUnreadable("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            opened.load()  # force decoding now, so truncation is caught here
            img: Image.Image = ImageOps.exif_transpose(opened) or opened
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageUnreadable(f"image too large (decompression bomb guard): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageUnreadable("not a recognised image format") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow raises OSError("image file is truncated ...") and friends.
        raise ImageUnreadable(f"corrupt image: {exc}") from exc
    if min(img.size) < MIN_SIDE:
        raise ImageUnreadable(f"image too small: {img.size[0]}x{img.size[1]} px")
    return img.convert(mode) if img.mode != mode else img
