"""Find and read the machine-readable zone in a document image.

Locating (as PassportEye does): the MRZ is two or three long lines of dense,
equally spaced dark characters, so a black-hat filter + horizontal gradient +
closing turns it into a wide bright band; the widest bands near the bottom are the
candidates. Each candidate is split into text lines by its row profile and every line
is read by Tesseract in single-line mode restricted to the MRZ alphabet; parsing,
repair and check digits are in :mod:`kyc.domain.mrz`.

Two recognisers:

* **OCR-B templates** (preferred, when the OCR-B font is installed: Debian's
  ``fonts-ocr-b``, which ``make system-deps`` installs). The MRZ is printed in
  OCR-B, monospaced, so each line is cut into equal cells (pitch from the first and
  last glyph centres) and every cell is scored against every character rendered
  from the font; :func:`kyc.domain.mrz.decode_scores` then takes the best character
  *of the class the layout allows there* (digits in dates, letters in names), which
  removes most O/0, B/8, S/5 confusions.
* **Tesseract** fallback (the general English ``fast`` model, no OCR-B training):
  it misreads the ``<`` filler (as K, C, X), drops fillers, and confuses O/0; the
  field-type repair only partly undoes that (see ``make bench-documents``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from kyc.domain.mrz import MrzError, MrzResult, decode_scores, find_mrz_lines, parse_mrz

#: Width the locator works at.
_WORK_WIDTH = 800
#: Widths a candidate band is scaled to before OCR (about 25-30 px per character).
_OCR_WIDTHS = (1100, 1400)
#: Bands tried per image (bottom-most first).
_MAX_BANDS = 3

MRZ_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
#: Where Debian's fonts-ocr-b puts the font.
OCRB_FONT = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
#: Cell size characters are compared at.
_CELL = (24, 32)
#: Pixels of zero padding around a cell, so a template may shift by that much.
_SHIFT = 3


class OcrbTemplates:
    """Scores MRZ cells against the OCR-B glyphs (see the module doc)."""

    def __init__(self, font_path: Path = OCRB_FONT) -> None:
        """Render the 37 MRZ characters from the font.

        Raises:
            OSError: the font file is missing or unreadable.
        """
        font = ImageFont.truetype(str(font_path), 100)
        cap = font.getbbox("H")
        advance = int(font.getlength("H"))
        self.templates: dict[str, np.ndarray] = {}
        for ch in MRZ_WHITELIST:
            img = Image.new("L", (advance + 20, 160), 255)
            ImageDraw.Draw(img).text((10, 20), ch, font=font, fill=0)
            cell = np.asarray(img)[20 + cap[1] : 20 + cap[3], 10 : 10 + advance]
            self.templates[ch] = cv2.resize(255 - cell, _CELL, interpolation=cv2.INTER_AREA).astype(
                np.float32
            )

    def score_row(self, row: NDArray[np.uint8]) -> list[dict[str, float]] | None:
        """Per-cell character scores of one MRZ text row (grey), or None.

        The row's glyphs are found as connected components; their count picks the
        line width (30, 36 or 44 characters) and the first and last centres the pitch.
        """
        ink = cv2.threshold(row, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
        ys = np.where(ink.sum(axis=1) > 0.02 * 255 * row.shape[1])[0]
        if len(ys) == 0:
            return None
        y0, y1 = int(ys[0]), int(ys[-1]) + 1
        stats = cv2.connectedComponentsWithStats(ink[y0:y1])[2][1:]
        glyphs = sorted((s for s in stats if s[4] > 0.02 * (y1 - y0) ** 2), key=lambda s: s[0])
        glyphs = _plausible_glyphs(glyphs, row.shape[1])
        if not glyphs:
            return None
        width = min((30, 36, 44), key=lambda n: abs(n - len(glyphs)))
        if abs(width - len(glyphs)) > 6:
            return None
        first = glyphs[0][0] + glyphs[0][2] / 2
        last = glyphs[-1][0] + glyphs[-1][2] / 2
        pitch = (last - first) / (width - 1)
        if pitch <= 1:
            return None
        # Scale the whole row so one cell is exactly one template, then match each
        # template once along the row (37 calls per row instead of 37 per cell).
        sx = _CELL[0] / pitch
        left = max(0, int(first - pitch / 2))
        right = min(row.shape[1], int(last + pitch / 2) + 1)
        inverted = 255 - row[y0:y1, left:right].astype(np.float32)
        scaled_w = max(_CELL[0], round(inverted.shape[1] * sx))
        small = cv2.resize(inverted, (scaled_w, _CELL[1]), interpolation=cv2.INTER_AREA)
        pad = cv2.copyMakeBorder(
            small, _SHIFT, _SHIFT, _SHIFT, _SHIFT + _CELL[0], cv2.BORDER_CONSTANT
        )
        start = (first - pitch / 2 - left) * sx
        responses = {
            ch: cv2.matchTemplate(pad, t, cv2.TM_CCOEFF_NORMED) for ch, t in self.templates.items()
        }
        out = []
        for i in range(width):
            # Cell i starts at start + i * CELL in `small`, i.e. + SHIFT in `pad`;
            # allow +-SHIFT pixels of drift.
            x = round(start + i * _CELL[0])
            lo, hi = max(0, x), x + 2 * _SHIFT + 1
            out.append({ch: float(r[:, lo:hi].max()) for ch, r in responses.items()})
        return out


def _plausible_glyphs(glyphs: list[NDArray[np.int32]], row_width: int) -> list[NDArray[np.int32]]:
    """Drop blobs that are not MRZ characters: specks, the document's edge, far outliers.

    A stray blob left or right of the line (the desk at a flattened page's border, a
    security print) would stretch the pitch estimate and shift every cell.
    """
    if len(glyphs) < 5:
        return glyphs
    height = float(np.median([g[3] for g in glyphs]))
    kept = [
        g
        for g in glyphs
        if 0.35 * height <= g[3] <= 1.6 * height and g[0] > 0 and g[0] + g[2] < row_width
    ]
    if len(kept) < 5:
        return kept
    centres = [g[0] + g[2] / 2 for g in kept]
    gap = float(np.median(np.diff(centres)))
    # Trim blobs separated from the line by a gap no run of fillers explains.
    while len(kept) > 5 and centres[1] - centres[0] > 4 * gap:
        kept, centres = kept[1:], centres[1:]
    while len(kept) > 5 and centres[-1] - centres[-2] > 4 * gap:
        kept, centres = kept[:-1], centres[:-1]
    return kept


@lru_cache(maxsize=1)
def ocrb_templates() -> OcrbTemplates | None:
    """The OCR-B templates, or None when the font is not installed."""
    try:
        return OcrbTemplates()
    except OSError:
        return None


def _mrz_rows(rows: Sequence[list[dict[str, float]]]) -> list[str] | None:
    """Decode the last run of rows that has an MRZ's line count and width."""
    for count, width in ((3, 30), (2, 44), (2, 36)):
        for i in range(len(rows) - count, -1, -1):
            group = rows[i : i + count]
            if all(len(r) == width for r in group):
                return decode_scores(group)
    return None


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


def read_mrz(
    img: Image.Image,
    read_line: Callable[[Image.Image], str],
    templates: OcrbTemplates | None = None,
) -> MrzResult | None:
    """Find and read the MRZ of a document image.

    Args:
        img: the document (grey or RGB), upright.
        read_line: OCR of one text line restricted to :data:`MRZ_WHITELIST`
            (used when ``templates`` is None).
        templates: the OCR-B template recogniser, preferred when given.

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
        for target in _OCR_WIDTHS[:1] if templates is not None else _OCR_WIDTHS:
            scale = target / band.width
            size = (target, max(1, int(band.height * scale)))
            scaled = band.resize(size, Image.Resampling.LANCZOS)
            lines = []
            cells = []
            for top, bottom in _text_rows(scaled):
                pad = max(4, (bottom - top) // 3)
                box = (0, max(0, top - pad), scaled.width, min(scaled.height, bottom + pad))
                row = scaled.crop(box)
                if templates is not None:
                    scored = templates.score_row(np.asarray(row))
                    if scored is not None:
                        cells.append(scored)
                    continue
                text = read_line(row).strip()
                if text:
                    lines.append(text)
            mrz_lines = _mrz_rows(cells) if templates is not None else find_mrz_lines(lines)
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
