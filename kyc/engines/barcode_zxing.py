"""BarcodeReader with zxing-cpp: the PDF417 symbol on a licence back.

The image given is searched as it is (the DocumentReader decoded, checked and
flattened it): large photos are scaled down, then a short table of attempts, cheapest
first, each pairs a preprocessing with one of zxing's binarizers. Text mode is
``Plain`` so the AAMVA payload's control characters (its field separators) survive.

Thread safety: zxing-cpp's read_barcodes is re-entrant; a reader holds no mutable
state, so one instance is shared by the pipeline's worker threads without a lock.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable

from PIL import Image, ImageFilter, ImageOps

from kyc.engines.base import EngineUnavailable


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class ZxingBarcodeReader:
    """BarcodeReader on this machine: zxing-cpp's PDF417 decoder."""

    name = "zxing"

    def __init__(self) -> None:
        """Load zxing-cpp.

        Raises:
            EngineUnavailable: zxing-cpp is not installed.
        """
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - a pinned dependency
            raise EngineUnavailable(f"local barcode engine needs {exc.name}") from exc
        self._zxing = zxingcpp
        self.version = f"zxing-cpp {_version('zxing-cpp')}"

    def read_pdf417(self, image: Image.Image) -> str | None:
        """The PDF417 text in ``image`` (see :class:`kyc.engines.base.BarcodeReader`).

        Args:
            image: the back as decoded (RGB), flattened or as captured.

        Returns:
            The decoded text, the AAMVA symbol's if several decode; None when none does.
        """
        zx = self._zxing
        img = image
        if max(img.size) > 2400:  # huge photos: zxing binarises a smaller copy better
            scale = 1600 / max(img.size)
            img = img.resize((round(img.width * scale), round(img.height * scale)))
        gray = ImageOps.autocontrast(img.convert("L"), cutoff=1)
        # Cheapest first; each later attempt rescues soft or tilted captures the
        # previous one missed (measured on degraded synthetic backs).
        attempts: list[tuple[Callable[[], Image.Image], object]] = [
            (lambda: img, zx.Binarizer.LocalAverage),
            (
                lambda: gray.filter(ImageFilter.UnsharpMask(radius=3, percent=250, threshold=0)),
                zx.Binarizer.LocalAverage,
            ),
            (lambda: gray, zx.Binarizer.FixedThreshold),
            (
                lambda: gray.resize(
                    (gray.width * 2, gray.height * 2), Image.Resampling.BICUBIC
                ).filter(ImageFilter.UnsharpMask(radius=2, percent=150, threshold=2)),
                zx.Binarizer.LocalAverage,
            ),
        ]
        for make, binarizer in attempts:
            found = zx.read_barcodes(
                make(),
                formats=zx.BarcodeFormat.PDF417,
                text_mode=zx.TextMode.Plain,
                binarizer=binarizer,
            )
            texts = [b.text for b in found if b.valid and b.text]
            if texts:
                # Prefer the AAMVA symbol if the image holds several PDF417s.
                return next((t for t in texts if "ANSI" in t or "AAMVA" in t), texts[0])
        return None
