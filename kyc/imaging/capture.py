"""Phone-photo handling for documents: find the card or page and flatten it.

A phone photo shows the document tilted, in perspective, on a background. OCR and
the PDF417 decoder both read a flat, upright document far better (zxing fails on
tilted photos), so before reading we look for the document's outline — the largest
convex quadrilateral — and warp it to its ISO shape: ID-1 (85.60 x 53.98 mm) for
cards, ID-3 (125 x 88 mm) for passport pages. When no outline is found (a scan that
is already cropped to the card, or a card on a background of the same colour) the
image is used as captured: that is the common case for uploads cropped by an app.

Rejection rules give DOCUMENT_UNREADABLE details a reviewer can act on: too small,
too blurred (variance of the Laplacian), blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

#: ISO/IEC 7810 aspect ratios (width / height).
ID1_ASPECT = 85.60 / 53.98
ID3_ASPECT = 125.0 / 88.0
#: Width a flattened document is warped to (ID-1 at 300 dpi is 1012 px).
FLAT_WIDTH = 1012
#: The outline must cover at least this share of the photo, else it is a detail
#: (a photo, a barcode) rather than the document.
MIN_AREA_SHARE = 0.2
#: ... and must not be the photo's own border (nothing to flatten then).
MAX_AREA_SHARE = 0.97
#: An outline whose aspect ratio is more than ~10 % off ID-1/ID-3 is not the
#: document (e.g. the body of a card below its header band).
MIN_SHAPE_FIT = 0.7
#: Smallest document side in pixels we try to read (an ID-1 card 150 px high is
#: ~70 dpi: its MRZ is still legible, its small print is not).
MIN_DOCUMENT_SIDE = 150
#: Variance of the Laplacian (at most 1000 px wide) under which text is too
#: blurred to read; measured on generated 1012 px cards: sharp ~900, Gaussian blur
#: radius 1 ~110, radius 2 ~11 (still read), radius 3+ (unreadable) < 3.
MIN_SHARPNESS = 5.0


@dataclass(frozen=True, slots=True)
class Capture:
    """A document image ready for reading.

    Attributes:
        image: the flattened (or as-captured) RGB image.
        flattened: True when an outline was found and warped.
        corners: the outline's corners in the original image (TL, TR, BR, BL), or None.
        sharpness: variance of the Laplacian on a 1000 px wide grey copy.
    """

    image: Image.Image
    flattened: bool
    corners: tuple[tuple[float, float], ...] | None
    sharpness: float


def sharpness(gray: NDArray[Any]) -> float:
    """Variance of the Laplacian on a copy at most 1000 px wide.

    Larger images are scaled down (so a 12 MP photo and a 1000 px scan compare);
    smaller ones are measured as they are: scaling a small scan up would blur it and
    reject a document that is merely low-resolution, not out of focus.
    """
    h, w = gray.shape[:2]
    scale = min(1.0, 1000 / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def _order(points: NDArray[np.float32]) -> NDArray[np.float32]:
    """Corners as TL, TR, BR, BL."""
    s = points.sum(axis=1)
    d = np.diff(points, axis=1).ravel()
    return np.array(
        [points[np.argmin(s)], points[np.argmin(d)], points[np.argmax(s)], points[np.argmax(d)]],
        dtype=np.float32,
    )


def _shape_fit(quad: NDArray[np.float32]) -> float:
    """1.0 for an ID-1/ID-3 shaped quadrilateral, falling towards 0 as it departs."""
    tl, tr, br, bl = _order(quad)
    w = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    seen = max(w, h) / max(min(w, h), 1.0)
    off = min(abs(seen - ID1_ASPECT), abs(seen - ID3_ASPECT)) / ID1_ASPECT
    return float(max(0.05, 1.0 - 3.0 * off))


def find_outline(rgb: NDArray[np.uint8]) -> NDArray[np.float32] | None:
    """The document's four corners (TL, TR, BR, BL) in an RGB image, or None."""
    h, w = rgb.shape[:2]
    scale = 600 / max(h, w)
    small = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    area = small.shape[0] * small.shape[1]
    blurred = cv2.GaussianBlur(small, (5, 5), 0)
    # Edges per colour channel: a dark blue header on a dark brown desk has almost
    # no grey-level edge but a clear one in the blue channel.
    edges = np.zeros(blurred.shape[:2], np.uint8)
    for ch in range(3):
        edges |= cv2.Canny(blurred[:, :, ch], 30, 90)
    edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    # Otsu on grey for a card on a plain light or dark background (soft edges).
    blurred = cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY)
    otsu = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
    best: tuple[float, NDArray[np.float32]] | None = None
    for mask in (edges, otsu, 255 - otsu):
        contours = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        for c in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
            hull = cv2.convexHull(c)
            a = cv2.contourArea(hull)
            if not MIN_AREA_SHARE * area <= a <= MAX_AREA_SHARE * area:
                continue
            approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
            if len(approx) != 4:
                # Rounded card corners give 5-8 points: take the minimum-area box.
                approx = cv2.boxPoints(cv2.minAreaRect(hull)).reshape(-1, 1, 2)
                # A box fits a quadrilateral only when the hull fills it.
                if a < 0.9 * cv2.contourArea(approx.astype(np.float32)):
                    continue
            quad = approx.reshape(4, 2).astype(np.float32)
            # Prefer outlines with an ISO document shape: a dark header band merged
            # into a dark desk makes a larger but wrongly shaped region.
            fit = _shape_fit(quad)
            if fit < MIN_SHAPE_FIT:
                continue
            score = a * fit
            if best is None or score > best[0]:
                best = (score, quad / scale)
    return None if best is None else _order(best[1])


def flatten(img: Image.Image, *, aspect: float | None = None) -> Capture:
    """Find the document in a photo and warp it flat.

    Args:
        img: the photo (EXIF orientation already applied).
        aspect: width/height to warp to; None picks ID-1 or ID-3, whichever is closer
            to the outline's own shape.

    Returns:
        The capture; ``flattened`` is False when no outline was found.
    """
    rgb = np.asarray(img.convert("RGB"))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    corners = find_outline(rgb)
    if corners is None:
        return Capture(img.convert("RGB"), False, None, sharpness(gray))
    tl, tr, br, bl = corners
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    portrait_held = height > width  # a card photographed upright: rotate to landscape
    if portrait_held:
        corners = np.array([bl, tl, tr, br], dtype=np.float32)
        width, height = height, width
    if aspect is None:
        seen = width / max(height, 1.0)
        aspect = min((ID1_ASPECT, ID3_ASPECT), key=lambda a: abs(a - seen))
    out_w = FLAT_WIDTH
    out_h = round(out_w / aspect)
    target = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    warped = cv2.warpPerspective(rgb, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC)
    flat_gray = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
    return Capture(
        Image.fromarray(warped),
        True,
        tuple((float(x), float(y)) for x, y in corners),
        sharpness(flat_gray),
    )


def rejection(img: Image.Image, *, score: float | None = None) -> str | None:
    """Why this document image cannot be read (too small, too blurred), or None.

    Args:
        img: the document image (flattened or as captured).
        score: its sharpness when already measured (``Capture.sharpness`` of the
            capture whose image this is); measured here when None.
    """
    if min(img.size) < MIN_DOCUMENT_SIDE:
        return f"document too small: {img.width}x{img.height} px"
    if score is None:
        score = sharpness(np.asarray(img.convert("L")))
    if score < MIN_SHARPNESS:
        return f"too blurred to read (sharpness {score:.1f} < {MIN_SHARPNESS})"
    return None
