"""Picture: fetched once, decoded once per scale actually needed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from kyc.imaging import picture as picture_module
from kyc.imaging.picture import Picture


def _jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """``min_long_side`` of every decode Picture makes."""
    seen: list[int | None] = []
    original = picture_module.load_image_reduced

    def counting(data: bytes, **kwargs: Any) -> Any:
        seen.append(kwargs["min_long_side"])
        return original(data, **kwargs)

    monkeypatch.setattr(picture_module, "load_image_reduced", counting)
    return seen


def test_loader_called_once() -> None:
    calls: list[int] = []

    def loader() -> bytes:
        calls.append(1)
        return _jpeg((80, 80))

    picture = Picture(loader=loader, name="selfie")
    assert picture.data == picture.data
    assert calls == [1]
    assert repr(picture) == "Picture(selfie)"


def test_small_image_decoded_once_for_every_caller(decodes: list[int | None]) -> None:
    # 800 px: too small for a DCT-reduced decode, so the "reduced" decode is the
    # full-size one and a caller wanting every pixel gets that same image.
    picture = Picture(_jpeg((545, 800)))
    reduced, scale = picture.decoded(min_long_side=1000)
    assert scale == 1.0
    assert picture.rgb() is reduced
    assert picture.decoded(min_long_side=400)[0] is reduced
    assert decodes == [1000]


def test_large_jpeg_decoded_reduced_then_full_when_every_pixel_is_needed(
    decodes: list[int | None],
) -> None:
    picture = Picture(_jpeg((2400, 1600)))
    reduced, scale = picture.decoded(min_long_side=1000)
    assert scale == 0.5 and reduced.size == (1200, 800)
    assert picture.decoded(min_long_side=1000)[0] is reduced
    full = picture.rgb()
    assert full.size == (2400, 1600)
    # once a full decode exists, reduced callers share it
    assert picture.decoded(min_long_side=300)[0] is full
    assert decodes == [1000, None]


def test_full_decode_first_serves_reduced_callers(decodes: list[int | None]) -> None:
    picture = Picture(_jpeg((2400, 1600)))
    full = picture.rgb()
    assert picture.decoded(min_long_side=1000) == (full, 1.0)
    assert decodes == [None]


def test_unreadable_image_fails_the_same_way_without_decoding_again(
    decodes: list[int | None],
) -> None:
    from kyc.imaging.decode import ImageUnreadable

    picture = Picture(_jpeg((545, 800))[:300], name="selfie")
    for _ in range(2):
        with pytest.raises(ImageUnreadable):
            picture.decoded(min_long_side=1000)
    assert decodes == [1000]
