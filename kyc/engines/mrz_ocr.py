"""Find and read the machine-readable zone in a document image.

Locating (as PassportEye does): the MRZ is two or three long lines of dense,
equally spaced dark characters, so a black-hat filter + horizontal gradient +
closing turns it into a wide bright band; the widest bands near the bottom are the
candidates. Each candidate is split into text lines by its row profile and every line
is read by Tesseract in single-line mode restricted to the MRZ alphabet; parsing,
repair and check digits are in :mod:`kyc.domain.mrz`.

Weakness (measured in ``make bench-documents``): the Tesseract model we ship is the
general English ``fast`` model, which has no OCR-B training; it misreads the
``<`` filler (as K, C, X) and confuses O/0, which the field-type repair only partly
undoes. An OCR-B model would be the next improvement.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from kyc.domain.mrz import MrzError, MrzResult, find_mrz_lines, parse_mrz

#: Width the locator works at.
_WORK_WIDTH = 800
#: Widths a candidate band is scaled to before OCR (about 25-30 px per character).
_OCR_WIDTHS = (1100, 1400)
#: Bands tried per image (bottom-most first).
_MAX_BANDS = 3

MRZ_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"


def mrz_bands(gray: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
    """Candidate MRZ boxes (x0, y0, x1, y1) in ``gray``, bottom-most first."""
    h, w = gray.shape[:2]
    scale = _WORK_WIDTH / w
    small = cv2.resize(gray, (_WORK_WIDTH, max(1, int(h * scale))))
    rect = cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5))
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (21, 21))
    blackhat = cv2.morphologyEx(cv2.GaussianBlur(small, (3, 3), 0), cv2.MORPH_BLACKHAT, rect)
    grad = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    grad = (255 * (grad - grad.min()) / (grad.max() - grad.min() + 1e-6)).astype(np.uint8)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, rect)
    mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[1]
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, square)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2)
    found = []
    for c in cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]:
        x, y, cw, ch = cv2.boundingRect(c)
        if cw / max(ch, 1) > 4 and cw > 0.55 * _WORK_WIDTH:
            px, py = int(0.03 * cw), int(0.25 * ch)
            box = (
                max(0, x - px),
                max(0, y - py),
                min(_WORK_WIDTH, x + cw + px),
                min(small.shape[0], y + ch + py),
            )
            found.append((y, tuple(int(v / scale) for v in box)))
    found.sort(reverse=True)
    return [b for _, b in found]  # type: ignore[misc]


def _text_rows(img: Image.Image) -> list[tuple[int, int]]:
    """(top, bottom) of each text row in a band, from the dark-pixel row profile."""
    a = np.asarray(img)
    ink = cv2.threshold(a, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    on = (ink.sum(axis=1) / 255) > 0.03 * a.shape[1]
    rows: list[tuple[int, int]] = []
    start: int | None = None
    for i, v in enumerate(on):
        if v and start is None:
            start = i
        elif not v and start is not None:
            rows.append((start, i))
            start = None
    if start is not None:
        rows.append((start, len(on)))
    return [r for r in rows if r[1] - r[0] > 8]


def read_mrz(img: Image.Image, read_line: Callable[[Image.Image], str]) -> MrzResult | None:
    """Find and read the MRZ of a document image.

    Args:
        img: the document (grey or RGB), upright.
        read_line: OCR of one text line restricted to :data:`MRZ_WHITELIST`.

    Returns:
        The first MRZ whose check digits all validate; else the first one that
        parsed (with its failed checks); None when no MRZ was found.
    """
    gray_img = img.convert("L")
    gray = np.asarray(gray_img)
    height, width = gray.shape
    boxes = mrz_bands(gray)[:_MAX_BANDS]
    boxes.append((0, int(height * 0.6), width, height))  # fallback: the bottom 40 %
    first: MrzResult | None = None
    for x0, y0, x1, y1 in boxes:
        band = gray_img.crop((x0, y0, x1, y1))
        if band.width < 50 or band.height < 10:
            continue
        for target in _OCR_WIDTHS:
            scale = target / band.width
            size = (target, max(1, int(band.height * scale)))
            scaled = band.resize(size, Image.Resampling.LANCZOS)
            lines = []
            for top, bottom in _text_rows(scaled):
                pad = max(4, (bottom - top) // 3)
                box = (0, max(0, top - pad), scaled.width, min(scaled.height, bottom + pad))
                row = scaled.crop(box)
                text = read_line(row).strip()
                if text:
                    lines.append(text)
            mrz_lines = find_mrz_lines(lines)
            if mrz_lines is None:
                continue
            try:
                result = parse_mrz(mrz_lines)
            except MrzError:
                continue
            if result.valid:
                return result
            first = first or result
    return first
