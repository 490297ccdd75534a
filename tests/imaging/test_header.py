"""Image sizes from headers only: fast for big photos, strict with damaged or crafted files."""

from __future__ import annotations

import time

import pytest

from kyc.imaging.header import ImageCorrupt, TooManyPixels, image_size
from tests.web.conftest import jpeg, png, png_of_size


def test_sizes_of_real_images() -> None:
    assert image_size(jpeg((640, 480)), "jpg") == (640, 480)
    assert image_size(png((33, 17)), "png") == (33, 17)


def test_a_huge_header_is_read_without_decoding() -> None:
    bomb = png_of_size(6000, 6000)  # 36 megapixels in a few tens of kB
    started = time.perf_counter()
    assert image_size(bomb, "png") == (6000, 6000)
    # Decoding 36 MP would take far longer than reading the header and checksums.
    assert time.perf_counter() - started < 1.0


def test_beyond_pillows_own_limit() -> None:
    with pytest.raises(TooManyPixels):
        image_size(png_of_size(20_000, 20_000), "png")


@pytest.mark.parametrize(
    ("data", "suffix"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "jpg"),
        (png()[:40] + b"\x00" * 60, "png"),
        (png()[:-8] + b"\x00" * 8, "png"),  # IEND checksum damaged
        (png(), "jpg"),  # a PNG is no JPEG: only the sniffed type's decoder is tried
        (b"\x89PNG\r\n\x1a\n", "png"),
    ],
)
def test_corrupt(data: bytes, suffix: str) -> None:
    with pytest.raises(ImageCorrupt):
        image_size(data, suffix)
