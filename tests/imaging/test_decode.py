"""Tests of the shared image decoder's reduced (JPEG draft) decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kyc.imaging.decode import MIN_SIDE, ImageUnreadable, load_image, load_image_reduced

# EXIF tag 0x0112 (Orientation); 6 = stored image must be turned 90 deg clockwise.
ORIENTATION = 0x0112


def gradient(width: int, height: int) -> Image.Image:
    """A smooth RGB picture (JPEG-friendly) whose corners differ."""
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None]
    rgb = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def jpeg(img: Image.Image, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    img.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize(
    ("stored", "need", "expected_size", "expected_scale"),
    [
        ((4000, 3000), 1000, (1000, 750), 0.25),  # 1/4: still >= 1000 on the long side
        ((3200, 2400), 1000, (1600, 1200), 0.5),  # 1/4 would give 800 < 1000
        ((4000, 3000), 400, (500, 375), 0.125),  # at most 1/8 (libjpeg's limit)
        ((1999, 1000), 1000, (1999, 1000), 1.0),  # under twice the need: full size
        ((800, 600), 2560, (800, 600), 1.0),
    ],
)
def test_large_jpeg_is_decoded_reduced_but_never_below_the_need(
    stored: tuple[int, int],
    need: int,
    expected_size: tuple[int, int],
    expected_scale: float,
) -> None:
    img, scale = load_image_reduced(jpeg(gradient(*stored)), min_long_side=need)
    assert img.size == expected_size
    assert scale == pytest.approx(expected_scale)
    assert max(img.size) >= min(need, max(stored))
    assert img.mode == "RGB"


def test_reduced_decode_matches_a_full_decode_resized() -> None:
    data = jpeg(gradient(2400, 1600))
    reduced, scale = load_image_reduced(data, min_long_side=600)
    assert scale == pytest.approx(0.25)
    full = load_image(data).resize(reduced.size, Image.Resampling.BOX)
    diff = np.abs(np.asarray(reduced, np.int16) - np.asarray(full, np.int16))
    assert diff.mean() < 2.0  # same picture; DCT scaling vs box filter differ by rounding


def test_reduced_decode_applies_exif_rotation_and_reports_the_scale() -> None:
    # Stored 4000x3000 landscape, EXIF says "rotate 90": the caller sees a portrait.
    img, scale = load_image_reduced(jpeg(gradient(4000, 3000), orientation=6), min_long_side=900)
    assert img.size == (750, 1000)
    assert scale == pytest.approx(0.25)
    assert load_image(jpeg(gradient(400, 300), orientation=6)).size == (300, 400)


def test_png_and_none_decode_at_full_size() -> None:
    buf = io.BytesIO()
    gradient(3000, 2000).save(buf, "PNG")
    img, scale = load_image_reduced(buf.getvalue(), min_long_side=500)
    assert (img.size, scale) == ((3000, 2000), 1.0)
    img, scale = load_image_reduced(jpeg(gradient(3000, 2000)), min_long_side=None)
    assert (img.size, scale) == ((3000, 2000), 1.0)


def test_size_check_uses_the_stored_size() -> None:
    # 4096 x 70: a 1/8 decode would be 512 x 9, but the upload itself is readable.
    img, scale = load_image_reduced(jpeg(gradient(4096, 70)), min_long_side=256)
    assert min(img.size) < MIN_SIDE and scale == pytest.approx(0.125)
    with pytest.raises(ImageUnreadable, match="too small: 4096x40"):
        load_image_reduced(jpeg(gradient(4096, 40)), min_long_side=256)


def test_bad_input_still_fails_clearly() -> None:
    with pytest.raises(ImageUnreadable, match="empty"):
        load_image_reduced(b"", min_long_side=100)
    with pytest.raises(ImageUnreadable, match="not a recognised"):
        load_image_reduced(b"not an image at all", min_long_side=100)
    truncated = jpeg(gradient(3000, 2000))[:5000]
    with pytest.raises(ImageUnreadable, match="corrupt"):
        load_image_reduced(truncated, min_long_side=500)
