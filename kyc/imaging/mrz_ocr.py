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
  OCR-B, monospaced: each band is deskewed and read in the brightest RGB channel
  (black ink stays dark, coloured print fades), each line is cut into its known
  number of equal cells (a grid fitted to the template scores, starting from the
  first and last glyph centres), and every cell is scored against every character
  rendered from the font, blurred down to the source glyph size;
  :func:`kyc.domain.mrz.decode_scores` then takes the best character *of the class
  the layout allows there* (digits in dates, letters in names) and lets the check
  digits choose among near ties. When that does not validate, bolder, softer and
  non-OCR-B (DejaVu Sans Mono) templates are tried.
* **Tesseract** fallback (the general English ``fast`` model, no OCR-B training):
  it misreads the ``<`` filler (as K, C, X), drops fillers, and confuses O/0; the
  field-type repair only partly undoes that (see ``make bench-documents``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from kyc.domain.mrz import MrzError, MrzResult, decode_scores, find_mrz_lines, parse_mrz
from kyc.imaging.decode import rotated

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
#: Pixels of padding around a row, so a template may shift by that much.
_SHIFT = 3
#: Contrast normalisation of a row before matching (see :meth:`OcrbTemplates.score_row`):
#: these percentiles of the row's darkness are taken as paper and full ink (an MRZ row
#: is about a third ink), and levels between are raised to this power.
_PAPER_PERCENTILE = 20
_INK_PERCENTILE = 97
_STROKE_GAMMA = 0.8


#: A second, non-OCR-B monospaced face some issuers' specimens are set in.
FALLBACK_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")


@dataclass(frozen=True, slots=True)
class Style:
    """How the templates are drawn: font, blur (sigma, cell px), stroke (+bolder/-thinner)."""

    font: str = "ocr-b"
    blur: float = 0.0
    stroke: int = 0


DEFAULT_STYLE = Style()
#: Styles tried when the default one does not give a valid MRZ: heavier print, soft
#: scans, and the fallback font (see :func:`read_mrz`). On the labelled specimens a
#: thinner stroke and blur + stroke never read one the others missed.
STYLES = (
    DEFAULT_STYLE,
    Style(stroke=1),
    Style(blur=1.2),
    Style(font="fallback"),
)


class OcrbTemplates:
    """Scores MRZ cells against the OCR-B glyphs (see the module doc)."""

    def __init__(self, font_path: Path = OCRB_FONT, fallback: Path = FALLBACK_FONT) -> None:
        """Render the 37 MRZ characters from the font (and the fallback font if present).

        Raises:
            OSError: the OCR-B font file is missing or unreadable.
        """
        self.fonts: dict[str, dict[str, np.ndarray]] = {"ocr-b": _render(font_path)}
        with contextlib.suppress(OSError):  # optional: OCR-B alone still works
            self.fonts["fallback"] = _render(fallback)
        self.templates = self.fonts["ocr-b"]
        self._degraded: dict[tuple[Style, float], dict[str, np.ndarray]] = {}

    def degraded(self, source_pitch: float, style: Style = DEFAULT_STYLE) -> dict[str, np.ndarray]:
        """The templates in ``style`` as they look when printed at ``source_pitch`` px per cell.

        A 6 px glyph scaled up to the 24 px cell is a soft blob; comparing it with
        sharp templates favours the glyph with less ink (F over E, P over R). Taking
        the templates down to the source size and back up blurs them the same way.
        """
        key = (style, round(source_pitch * 2) / 2)
        cached = self._degraded.get(key)
        if cached is not None:
            return cached
        base = self.fonts.get(style.font, self.templates)
        out = {}
        for ch, t in base.items():
            if style.stroke:
                op = cv2.dilate if style.stroke > 0 else cv2.erode
                t = op(t, np.ones((3, 3), np.uint8), iterations=abs(style.stroke))
            if style.blur:
                t = cv2.GaussianBlur(t, (0, 0), style.blur)
            if key[1] < _CELL[0]:
                w = max(3, round(key[1]))
                h = max(4, round(key[1] * _CELL[1] / _CELL[0]))
                small = cv2.resize(t, (w, h), interpolation=cv2.INTER_AREA)
                t = cv2.resize(small, _CELL, interpolation=cv2.INTER_CUBIC)
            out[ch] = t
        self._degraded[key] = out
        return out

    def score_row(
        self, row: NDArray[np.uint8], upscale: float = 1.0, style: Style = DEFAULT_STYLE
    ) -> list[dict[str, float]] | None:
        """Per-cell character scores of one MRZ text row (grey), or None.

        The row's glyphs are found as connected components; their count picks the
        line width (30, 36 or 44 characters) and the first and last centres a first
        pitch, which a grid fit then refines (the known cell count places every cell
        boundary, so a broken or merged glyph does not shift its neighbours).

        Args:
            row: the text row, grey, glyphs dark.
            upscale: how much the row was enlarged from the source image (templates
                are blurred to the source resolution, see :meth:`degraded`).
            style: how the templates are drawn.
        """
        ink = _binarise(row)
        span = _text_span(ink)
        if span is None:
            return None
        y0, y1 = span
        stats = cv2.connectedComponentsWithStats(ink[y0:y1])[2][1:]
        glyphs = sorted((s for s in stats if s[4] > 0.02 * (y1 - y0) ** 2), key=lambda s: s[0])
        glyphs = _plausible_glyphs(glyphs, row.shape[1])
        if not glyphs:
            return None
        width = min((30, 36, 44), key=lambda n: abs(n - len(glyphs)))
        if abs(width - len(glyphs)) > 6:
            return None
        # Cell top and bottom from the full-height glyphs (not '<'), so a shadow or
        # a stroke of the next line inside the span does not squash the cells.
        tall = sorted(g[3] for g in glyphs)[int(0.9 * (len(glyphs) - 1))]
        caps = [g for g in glyphs if g[3] >= 0.85 * tall]
        top = int(np.median([g[1] for g in caps]))
        bottom = int(np.median([g[1] + g[3] for g in caps]))
        if bottom - top >= 4 and (y1 - y0) > 1.25 * (bottom - top):
            y0, y1 = y0 + top, y0 + bottom
        first = glyphs[0][0] + glyphs[0][2] / 2
        last = glyphs[-1][0] + glyphs[-1][2] / 2
        pitch = (last - first) / (width - 1)
        if pitch <= 1:
            return None
        templates = self.degraded(pitch / upscale, style)
        # Scale the whole row so one cell is exactly one template, then match each
        # template once along the row (37 calls per row instead of 37 per cell).
        sx = _CELL[0] / pitch
        left = max(0, int(first - pitch))
        right = min(row.shape[1], int(last + pitch) + 1)
        # One real image row above and below the ink span, then the border replicated
        # (not blank): a template shifted by a pixel or two then still compares with
        # paper and the glyph's edge rows, where the E/F and P/R differences are.
        ya, yb = max(0, y0 - 1), min(row.shape[0], y1 + 1)
        sy = _CELL[1] / (y1 - y0)
        inverted = 255 - row[ya:yb, left:right].astype(np.float32)
        # Paper to 0, the darkest ink to 1, then faint ink lifted (gamma < 1): blur and
        # downsampling leave thin horizontal strokes at half the darkness of the stems,
        # and a correlation with the crisp template then prefers the glyph without
        # them (F over E, O over Q, T over I).
        paper, ink = np.percentile(inverted, [_PAPER_PERCENTILE, _INK_PERCENTILE])
        level = np.clip((inverted - paper) / max(1.0, float(ink - paper)), 0.0, 1.0)
        inverted = (255.0 * level**_STROKE_GAMMA).astype(np.float32)
        scaled_w = max(_CELL[0], round(inverted.shape[1] * sx))
        scaled_h = max(_CELL[1], round((yb - ya) * sy))
        small = cv2.resize(inverted, (scaled_w, scaled_h), interpolation=cv2.INTER_AREA)
        pad = cv2.copyMakeBorder(
            small, _SHIFT, _SHIFT, _SHIFT, _SHIFT + 2 * _CELL[0], cv2.BORDER_REPLICATE
        )
        start = (first - pitch / 2 - left) * sx
        responses = {
            ch: cv2.matchTemplate(pad, t, cv2.TM_CCOEFF_NORMED).max(axis=0)
            for ch, t in templates.items()
        }
        stack = np.stack(list(responses.values()))
        best_any = stack.max(axis=0)
        origin, step = _fit_grid(best_any, start + _SHIFT, width)
        out = []
        for i in range(width):
            # Cell i's template position in `pad`, +-1 pixel of residual drift.
            x = round(origin + i * step)
            lo, hi = max(0, x - 1), max(1, min(stack.shape[1], x + 2))
            cell = stack[:, lo:hi].max(axis=1)
            out.append(dict(zip(responses, cell.tolist(), strict=True)))
        return out


def _render(font_path: Path) -> dict[str, np.ndarray]:
    """The 37 MRZ characters of a font, each scaled to one cell (ink bright)."""
    font = ImageFont.truetype(str(font_path), 100)
    cap = font.getbbox("H")
    advance = int(font.getlength("H"))
    out = {}
    for ch in MRZ_WHITELIST:
        img = Image.new("L", (advance + 20, 160), 255)
        ImageDraw.Draw(img).text((10, 20), ch, font=font, fill=0)
        # Debian's OCR-B draws digits (and round letters' overshoot) about 8 % taller
        # than H; printed MRZs set them at one height. Cutting every glyph at H's
        # height chopped the top off 2, 3, 5 (read as 7, R, S); each glyph is scaled
        # from its own full height instead. '<' keeps its place inside the cap height.
        top, bottom = cap[1], cap[3]
        if ch != "<":
            box = font.getbbox(ch)
            top, bottom = min(top, box[1]), max(bottom, box[3])
        cell = np.asarray(img)[20 + top : 20 + bottom, 10 : 10 + advance]
        out[ch] = cv2.resize(255 - cell, _CELL, interpolation=cv2.INTER_AREA).astype(np.float32)
    return out


def _binarise(row: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Ink mask of a text row: dark against the local background.

    A global (Otsu) threshold fails when the crop holds something much brighter or
    darker than the paper (a white frame drawn round the MRZ, a shadow at the
    page's edge); the local mean over about two character heights does not.
    """
    block = max(15, (row.shape[0] // 2) * 2 + 1)
    local = cv2.adaptiveThreshold(
        row, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12
    )
    otsu = cv2.threshold(row, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    # Both must agree: the local threshold alone also marks paper texture.
    mask = cv2.bitwise_and(local, otsu) if otsu.mean() < 128 else local
    return np.asarray(mask, dtype=np.uint8)


def _text_span(ink: NDArray[np.uint8]) -> tuple[int, int] | None:
    """(top, bottom) of the text line in a row crop: the heaviest run of inked rows.

    The crop is padded and may catch the bottom of the line above or the top of the
    one below; taking first..last inked rows would stretch the cell over both.
    """
    profile = ink.sum(axis=1) / 255.0
    if profile.max() <= 0:
        return None
    on = profile > 0.12 * profile.max()
    runs: list[tuple[float, int, int]] = []
    start: int | None = None
    for i, v in enumerate([*on.tolist(), False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((float(profile[start:i].sum()), start, i))
            start = None
    _, top, bottom = max(runs)
    return (top, bottom) if bottom - top >= 4 else None


def _fit_grid(best_any: NDArray[np.float32], origin: float, count: int) -> tuple[float, float]:
    """Origin and step (px) of ``count`` equal cells that best fit the match scores.

    ``best_any[x]`` is the best score of any character with its template at ``x``;
    the grid whose cells sit on the highest scores is the line's true pitch and phase
    (the first estimate comes from the outer glyphs, which a speck or a clipped
    character can move by a few pixels).
    """
    n = best_any.shape[0]
    # Max over +-1 px so that the grid does not have to hit the exact peak.
    local = np.maximum(best_any, np.maximum(np.roll(best_any, 1), np.roll(best_any, -1)))
    steps = np.arange(_CELL[0] * 0.96, _CELL[0] * 1.04 + 1e-6, _CELL[0] * 0.005)
    shifts = np.arange(-(_CELL[0] // 2), _CELL[0] // 2 + 1)
    # Every (step, shift) grid at once: positions[s, d, i] of cell i.
    positions = np.round(
        origin + shifts[None, :, None] + np.arange(count)[None, None, :] * steps[:, None, None]
    ).astype(int)
    inside = (positions[:, :, 0] >= 0) & (positions[:, :, -1] < n)
    totals = local[np.clip(positions, 0, n - 1)].sum(axis=2)
    totals[~inside] = -np.inf
    if not np.isfinite(totals).any():
        return origin, float(_CELL[0])
    s, d = np.unravel_index(int(np.argmax(totals)), totals.shape)
    return origin + float(shifts[d]), float(steps[s])


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
    # A card's border or a frame line cut by the row crop is a thin full-height blob at
    # an end of the line; the thinnest MRZ glyph (I, 1) is several times wider.
    width = float(np.median([g[2] for g in kept]))
    while len(kept) > 5 and kept[0][2] < 0.3 * width:
        kept = kept[1:]
    while len(kept) > 5 and kept[-1][2] < 0.3 * width:
        kept = kept[:-1]
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


def _mrz_group(rows: Sequence[list[dict[str, float]]]) -> slice | None:
    """The last run of rows that has an MRZ's line count and width."""
    for count, width in ((3, 30), (2, 44), (2, 36)):
        for i in range(len(rows) - count, -1, -1):
            if all(len(r) == width for r in rows[i : i + count]):
                return slice(i, i + count)
    return None


def _fit(rows: Sequence[list[dict[str, float]]]) -> float:
    """Mean best score over the cells: how well a template style matches the print."""
    return float(np.mean([max(cell.values()) for row in rows for cell in row]))


def _read_group(
    templates: OcrbTemplates,
    crops: Sequence[NDArray[np.uint8]],
    upscale: float,
    styles: Sequence[Style] = STYLES,
    default: Sequence[list[dict[str, float]]] | None = None,
) -> MrzResult | None:
    """Read the MRZ rows in each template style; the best valid reading wins.

    The default style is tried first and kept when its check digits validate. Else
    every style is scored; a reading whose check digits all validate beats one that
    does not, then the style whose templates fit the print best (mean best score)
    wins. Six styles are six hypotheses, far too few for a wrong reading to pass four
    or five check digits by chance.
    """
    best: tuple[bool, float, MrzResult] | None = None
    for style in styles:
        if style == DEFAULT_STYLE and default is not None:
            rows: list[list[dict[str, float]] | None] = list(default)
        else:
            rows = [templates.score_row(c, upscale=upscale, style=style) for c in crops]
        if any(r is None for r in rows):
            continue
        scored = [r for r in rows if r is not None]
        lines = decode_scores(scored)
        if lines is None:
            continue
        try:
            result = parse_mrz(lines)
        except MrzError:
            continue
        if style == DEFAULT_STYLE and result.valid:
            return result
        rank = (result.valid, _fit(scored), result)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best is not None else None


def _band_mask(gray: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
    """(mask of dense dark text at :data:`_WORK_WIDTH`, the scale applied to ``gray``)."""
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
    return np.asarray(mask, dtype=np.uint8), scale


#: Turns tried when no MRZ is found upright (deskew covers +-6 degrees around each).
_TILTS = (10.0, -10.0, 20.0, -20.0, 30.0, -30.0)


def mrz_tilts(gray: NDArray[np.uint8]) -> list[float]:
    """Turns (degrees counter-clockwise, as :func:`~kyc.imaging.decode.rotated`) showing a band.

    :func:`mrz_bands` looks for level bands (deskew then corrects a few degrees); a
    page photographed 10-35 degrees askew has no level band at all. Each turn in
    :data:`_TILTS` is tried on a small copy; those with a candidate band are returned.
    """
    h, w = gray.shape[:2]
    scale = _WORK_WIDTH / w
    small = Image.fromarray(cv2.resize(gray, (_WORK_WIDTH, max(1, int(h * scale)))))
    return [t for t in _TILTS if mrz_bands(np.asarray(rotated(small, t, expand=False)))]


def mrz_bands(gray: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
    """Candidate MRZ boxes (x0, y0, x1, y1) in ``gray``, bottom-most first."""
    mask, scale = _band_mask(gray)
    height = mask.shape[0]
    found = []
    for c in cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]:
        x, y, cw, ch = cv2.boundingRect(c)
        # Wide bands; narrower ones only when very elongated (a residence card's
        # back beside its front in one image holds an MRZ 45 % of the width).
        if cw / max(ch, 1) > 4 and (
            cw > 0.55 * _WORK_WIDTH or (cw > 0.3 * _WORK_WIDTH and cw / max(ch, 1) > 6)
        ):
            px, py = int(0.03 * cw), int(0.25 * ch)
            box = (
                max(0, x - px),
                max(0, y - py),
                min(_WORK_WIDTH, x + cw + px),
                min(height, y + ch + py),
            )
            found.append((y, tuple(int(v / scale) for v in box)))
    found.sort(reverse=True)
    boxes: list[tuple[int, int, int, int]] = [b for _, b in found]  # type: ignore[misc]
    return _joined_lines(boxes) + boxes


def _joined_lines(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Unions of bands that are consecutive lines of one MRZ (bottom-most first).

    With wide line spacing each MRZ line closes into a band of its own; read alone,
    no band holds the 2 or 3 lines of a format. Two bands are lines of one zone when
    they span about the same columns and the gap between them is under two line
    heights.
    """
    out = []
    ordered = sorted(boxes, key=lambda b: b[1])
    for upper, lower in itertools.pairwise(ordered):
        height = max(upper[3] - upper[1], lower[3] - lower[1])
        overlap = min(upper[2], lower[2]) - max(upper[0], lower[0])
        span = max(upper[2], lower[2]) - min(upper[0], lower[0])
        if 0 <= lower[1] - upper[3] < 2 * height and overlap > 0.85 * span:
            out.append((min(upper[0], lower[0]), upper[1], max(upper[2], lower[2]), lower[3]))
    # Three-line zones (TD1): chain unions that share a band.
    for a, b in itertools.pairwise(sorted(out, key=lambda u: u[1])):
        if a[3] > b[1]:
            out.append((min(a[0], b[0]), a[1], max(a[2], b[2]), b[3]))
    return sorted(out, key=lambda u: (-u[3], u[1]))


def deskew(band: Image.Image, max_deg: float = 6.0) -> Image.Image:
    """The band rotated so its text lines run level (photos tilt the page a few degrees).

    The angle is the one whose projection of the ink onto the vertical axis is
    sharpest (text rows as narrow peaks); a 44-character line tilted 2 degrees
    otherwise drifts by more than a character height from end to end.
    """
    a = np.asarray(band)
    ink = cv2.threshold(a, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
    ys, xs = np.nonzero(ink)
    if len(xs) < 50:
        return band
    step = max(1, len(xs) // 20000)
    ys, xs = ys[::step].astype(np.float32), xs[::step].astype(np.float32)
    best_angle, best_sharpness = 0.0, -1.0
    bins = max(8, a.shape[0])
    for deg in np.arange(-max_deg, max_deg + 1e-6, 0.25):
        t = np.deg2rad(deg)
        hist = np.bincount(
            np.clip((ys * np.cos(t) - xs * np.sin(t) + a.shape[1]).astype(int), 0, None),
            minlength=bins,
        ).astype(np.float64)
        sharpness = float((hist**2).sum())
        if sharpness > best_sharpness:
            best_angle, best_sharpness = float(deg), sharpness
    if abs(best_angle) < 0.3:
        return band
    h, w = a.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), best_angle, 1.0)
    border = int(np.median(a))
    level = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_CUBIC, borderValue=border)
    return Image.fromarray(level)


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


def _row_crops(
    band: Image.Image, target: int
) -> tuple[float, list[tuple[tuple[int, int], Image.Image]]]:
    """(scale, [((top, bottom), padded row crop), ...]) of a band scaled to ``target`` px."""
    scale = target / band.width
    scaled = band.resize((target, max(1, int(band.height * scale))), Image.Resampling.LANCZOS)
    out = []
    for top, bottom in _text_rows(scaled):
        pad = max(4, (bottom - top) // 3)
        box = (0, max(0, top - pad), scaled.width, min(scaled.height, bottom + pad))
        out.append(((top, bottom), scaled.crop(box)))
    return scale, out


def _read_band(
    band: Image.Image, templates: OcrbTemplates, styles: Sequence[Style], refine: bool = True
) -> MrzResult | None:
    """Read the MRZ rows of one deskewed band with the OCR-B templates, or None.

    A band can be much taller than the MRZ (a whole page on a dark desk closes into
    one region); its deskew angle then follows the page's other text, while
    perspective tilts the MRZ lines differently and the row crops clip the ends of a
    line. When the MRZ rows fill less than half of the band, the rows alone are cut
    out, deskewed again and read (once).
    """
    scale, rows_found = _row_crops(band, _OCR_WIDTHS[0])
    cells = []
    crops = []
    spans = []
    for span, row in rows_found:
        crop = np.asarray(row)
        scored = templates.score_row(crop, upscale=scale)
        if scored is not None:
            cells.append(scored)
            crops.append(crop)
            spans.append(span)
    group = _mrz_group(cells)
    if group is None:
        return None
    rows = spans[group]
    height = rows[-1][1] - rows[0][0]
    if refine and height < 0.5 * int(band.height * scale):  # the scaled band's height
        line = height / len(rows)
        y0 = max(0, int((rows[0][0] - line) / scale))
        y1 = min(band.height, int((rows[-1][1] + line) / scale))
        again = _read_band(deskew(band.crop((0, y0, band.width, y1))), templates, styles, False)
        if again is not None and again.valid:
            return again
    # The other styles cost ~40 ms a row group: the caller passes them once.
    return _read_group(templates, crops[group], scale, styles, default=cells[group])


def _read_tesseract(
    band: Image.Image, target: int, read_line: Callable[[Image.Image], str]
) -> MrzResult | None:
    """Read a band's rows with Tesseract at ``target`` px wide (no OCR-B font)."""
    lines = [t for _, row in _row_crops(band, target)[1] if (t := read_line(row).strip())]
    mrz_lines = find_mrz_lines(lines)
    if mrz_lines is None:
        return None
    try:
        return parse_mrz(mrz_lines)
    except MrzError:
        return None


def read_mrz(
    img: Image.Image,
    read_line: Callable[[Image.Image], str],
    templates: OcrbTemplates | None = None,
    *,
    tilted: bool = True,
) -> MrzResult | None:
    """Find and read the MRZ of a document image.

    Args:
        img: the document, upright; RGB preferred (the brightest channel drops
            coloured print over the MRZ), grey accepted.
        read_line: OCR of one text line restricted to :data:`MRZ_WHITELIST`
            (used when ``templates`` is None).
        templates: the OCR-B template recogniser, preferred when given.
        tilted: when no MRZ is found upright, try the turns of :func:`mrz_tilts`
            (+-10/20/30 degrees, deskew covering the rest) and read the image turned
            level (a phone photo of a passport held at an angle).

    Returns:
        The first MRZ whose check digits all validate; else the first one that
        parsed (with its failed checks); None when no MRZ was found.
    """
    gray = np.asarray(img.convert("L"))
    height, width = gray.shape
    boxes = mrz_bands(gray)[:_MAX_BANDS]
    boxes.append((0, int(height * 0.6), width, height))  # fallback: the bottom 40 %
    # MRZ ink is black: in the brightest of the three channels it stays dark while
    # coloured print over it (a red "RH" across a Croatian MRZ, pink guilloches)
    # fades to background.
    rgb = img.mode == "RGB"
    ink_img = Image.fromarray(np.asarray(img).max(axis=2)) if rgb else img.convert("L")
    first: MrzResult | None = None
    styled = False
    for x0, y0, x1, y1 in boxes:
        band = deskew(ink_img.crop((x0, y0, x1, y1)))
        if band.width < 50 or band.height < 10:
            continue
        if templates is not None:
            read = _read_band(band, templates, STYLES if not styled else STYLES[:1])
            styled = styled or read is not None
            candidates: Iterable[MrzResult | None] = [read]
        else:
            candidates = (_read_tesseract(band, t, read_line) for t in _OCR_WIDTHS)
        for result in candidates:
            if result is None:
                continue
            if result.valid:
                return result
            first = first or result
    if first is None and tilted:
        return read_mrz_askew(img, read_line, templates)
    return first


def read_mrz_askew(
    img: Image.Image,
    read_line: Callable[[Image.Image], str],
    templates: OcrbTemplates | None = None,
) -> MrzResult | None:
    """The MRZ of a page photographed 10-35 degrees askew (see :func:`mrz_tilts`), or None.

    The fallback of :func:`read_mrz` when nothing is found upright; callers that try
    several upright images first (the photo, then its flattened copy) call it last.
    """
    for angle in mrz_tilts(np.asarray(img.convert("L")))[:2]:
        found = read_mrz(rotated(img, angle, expand=False), read_line, templates, tilted=False)
        if found is not None:
            return found
    return None
