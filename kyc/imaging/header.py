"""An uploaded image's size from its header, without decoding its pixels.

The intake API must refuse a decompression bomb (a small file whose header promises
hundreds of megapixels) and an unreadable file before anything is stored, and must
stay fast for a 10 MB photo: Pillow's ``open`` reads the header only; ``verify``
checks a PNG's chunk checksums without inflating it.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

#: Pillow format names of the accepted types (only their decoders are tried).
PILLOW_FORMATS = {"jpg": "JPEG", "png": "PNG"}


class ImageCorrupt(ValueError):
    """The bytes carry an accepted type's signature but no readable image."""


class TooManyPixels(ValueError):
    """The header promises more pixels than Pillow will even open (a decompression bomb)."""


def image_size(data: bytes, suffix: str) -> tuple[int, int]:
    """Width and height from the header of a JPEG (``jpg``) or PNG (``png``).

    Args:
        data: the file.
        suffix: its sniffed type (see :class:`kyc.domain.uploads.ImageType`).

    Returns:
        (width, height) in pixels.

    Raises:
        ImageCorrupt: no readable header, a zero size, or (PNG) damaged chunks.
        TooManyPixels: over twice Pillow's global limit (its size is not reported).
    """
    try:
        with warnings.catch_warnings():
            # The caller compares the size with its own limit; Pillow's bomb warning
            # (and its error at twice its global limit) must not decide for it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[suffix]]) as img:
                width, height = img.size
                img.verify()
    except Image.DecompressionBombError:
        raise TooManyPixels("over twice Pillow's pixel limit") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow signals damaged files with any of these; the message may quote bytes.
        raise ImageCorrupt(type(exc).__name__) from None
    if width <= 0 or height <= 0:
        raise ImageCorrupt("zero-sized image")
    return width, height
