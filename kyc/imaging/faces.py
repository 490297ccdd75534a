"""Face detection shared by the face matcher, the liveness checks and the duplicate search.

One dlib HOG detection per image and role, memoised on the :class:`Picture`, so the
matcher (5-point landmarks, descriptor) and the replay/challenge checks (68-point
landmarks, aligned chip) work from the same face box on the same copy of the image.

Passes, cheapest first; the first that finds a face wins and the face with the
highest detector score is the subject (an ID card can carry a second, faint "ghost"
portrait and a selfie can show a bystander: the best-scored face is the subject, not
the biggest box).

Thread safety (measured on dlib 20.0.1, ``dlib-bin``): the HOG detector is **not**
safe to share: ``object_detector::operator()`` loads the image into its member
scanner, and the Python binding releases the GIL while it runs (two threads run
detections truly in parallel). Sharing one detector between two threads corrupted the
heap (``free(): corrupted unsorted chunks``). Each thread therefore gets its own
detector (``threading.local``); creating one costs about 0.2 s once per thread and
keeps detection parallel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from kyc.imaging.picture import Picture

Role = Literal["selfie", "document"]

#: Long side of the selfie copy used for detection, landmarks and embedding. Phone
#: selfies show a large face, so 500 px keeps it well above the 150 px chip while the
#: HOG scan stays ~10 ms.
SELFIE_MAX_SIDE = 500
#: Long side of the quick first-pass copy of the document (an ID-1 card at 1012 px
#: becomes 640 px; a typical ID portrait face is still above the HOG's ~80 px window).
DOCUMENT_QUICK_MAX_SIDE = 640
#: Long side the document is reduced to before the slower passes and the embedding.
#: An ID-1 scan (1012 px) is untouched; a 4000 px phone photo of a card is not
#: upsampled at full size, which would take seconds.
DOCUMENT_MAX_SIDE = 1280
#: Long side up to which a document image counts as a portrait crop (the document
#: reader's crop of the card photo, or a photo of the portrait alone) and gets the
#: padded pass below.
PORTRAIT_CROP_MAX_SIDE = 640
#: Border added on each side, per long side, before the padded pass. The HOG window
#: needs context around the face: on a tight crop (forehead to chin, ear to ear) it
#: missed 6 of 552 crops of the public set; with a 30 % replicated border it found 4
#: of them and the other 2 are blurred, strongly turned faces.
PORTRAIT_PAD = 0.3
#: The decoder may shrink a JPEG (``Image.draft``) while its long side stays at least
#: this many times the largest copy a detection pass uses: the same rule as the
#: ``reducing_gap=2.0`` of :func:`reduce`, so the copies see the same kind of filtering.
DRAFT_GAP = 2


@dataclass(frozen=True, slots=True)
class Pass:
    """One detection attempt: image reduced to ``max_side``, bordered, then ``upsample``.

    ``pad`` is the border added on each side as a fraction of the long side (edge
    pixels replicated), 0 for none.
    """

    max_side: int
    upsample: int
    pad: float = 0.0


#: Selfie: one scan at 500 px without upsampling (fast; a selfie face is large). Only
#: when that finds nothing, a second scan upsampled once finds faces down to ~37 px so
#: that a small face is reported as FACE_QUALITY_LOW or still matched instead of
#: "no face"; it costs ~50 ms and runs only on that failure path.
SELFIE_PASSES = (Pass(SELFIE_MAX_SIDE, 0), Pass(SELFIE_MAX_SIDE, 1))


def document_passes(upsample: int) -> tuple[Pass, ...]:
    """Detection passes for the document, cheapest first; the first that finds a face wins.

    Measured on 1012x638 ID-1 cards on a 2-core machine: the 640 px quick pass
    (~15 ms) finds faces of >= ~115 px on the card and found all 137 readable
    head-and-shoulders portraits of the public face set; the full-size pass without
    upsampling (~38 ms) adds faces of 73-115 px; the upsampled pass (~170 ms at
    ``upsample=1``) adds faces down to ~37 px and runs only when the others fail.
    The last, padded pass only runs on small images (a portrait crop, see
    ``PORTRAIT_PAD``) where the others found nothing.
    """
    passes = [Pass(DOCUMENT_QUICK_MAX_SIDE, 0), Pass(DOCUMENT_MAX_SIDE, 0)]
    if upsample > 0:
        passes.append(Pass(DOCUMENT_MAX_SIDE, upsample))
    passes.append(Pass(PORTRAIT_CROP_MAX_SIDE, max(upsample, 1), PORTRAIT_PAD))
    return tuple(passes)


def passes_for(role: Role, upsample: int) -> tuple[Pass, ...]:
    """The detection passes of a role (``upsample`` applies to the document only)."""
    return SELFIE_PASSES if role == "selfie" else document_passes(upsample)


@dataclass(frozen=True, slots=True)
class FaceDetection:
    """The subject's face in one image, and the copy of the image it was found on.

    Landmarks, chips and descriptors are computed on ``pixels`` with ``rect``, so the
    rectangle never needs rescaling (dlib maps upsampled boxes back to the copy).

    Attributes:
        pixels: the RGB copy (reduced, possibly bordered) the face was found on.
        rect: the dlib rectangle of the best-scored face in ``pixels``.
        score: its HOG detection score (> 0).
        count: faces found by the successful pass.
        scale: ``pixels`` per uploaded-image pixel (decode reduction included).
        border: replicated border width added on each side of ``pixels``.
        upsampled: found by an upsampled pass (a search without upsampling would
            not have found this face).
    """

    pixels: np.ndarray
    rect: Any
    score: float
    count: int
    scale: float
    border: int
    upsampled: bool = False

    def box(self) -> tuple[int, int, int, int]:
        """(left, top, width, height) in the uploaded image's pixels."""
        r = self.rect
        return (
            round((r.left() - self.border) / self.scale),
            round((r.top() - self.border) / self.scale),
            round(r.width() / self.scale),
            round(r.height() / self.scale),
        )

    def corners(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in the uploaded image's pixels."""
        left, top, width, height = self.box()
        return left, top, left + width, top + height


_local = threading.local()


def detector() -> Any:
    """This thread's dlib HOG frontal-face detector (not shareable between threads)."""
    found = getattr(_local, "detector", None)
    if found is None:
        import dlib

        found = _local.detector = dlib.get_frontal_face_detector()
    return found


def reduce(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """Downscale so the long side is at most ``max_side``; return the scale used."""
    long_side = max(image.size)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: Pillow first shrinks by an integer factor with a cheap box filter,
    # then resamples the rest; this keeps a 12 MP phone photo from dominating the cost.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), scale


def bordered(pixels: np.ndarray, pad: float) -> tuple[np.ndarray, int]:
    """``pixels`` with a replicated border of ``pad`` x long side; returns the border width."""
    width = round(pad * max(pixels.shape[:2]))
    if width == 0:
        return pixels, 0
    return np.pad(pixels, ((width, width), (width, width), (0, 0)), mode="edge"), width


def find_face(picture: Picture, role: Role, *, upsample: int = 1) -> FaceDetection | None:
    """The subject's face in ``picture`` (detected once per picture, role and upsample).

    Args:
        picture: the image.
        role: ``selfie`` or ``document`` (sets the passes).
        upsample: HOG upsampling of the document's slow pass (the face matcher's
            ``KYC_FACE_UPSAMPLE``); ignored for selfies.

    Returns:
        The detection, or None when no pass found a face.

    Raises:
        ImageUnreadable: the picture is not a usable image.
    """
    upsample = upsample if role == "document" else 0
    if upsample > 0:
        # The passes without upsampling come first whatever ``upsample`` is: when they
        # found a face (e.g. for the document reader, which detects without
        # upsampling), the upsampled search would return that same face.
        quick = picture.known(("face", role, 0))
        if quick is not None and not quick.upsampled:
            return quick
    key = ("face", role, upsample)
    return picture.memo(key, lambda: _detect(picture, passes_for(role, upsample)))


def _detect(picture: Picture, passes: tuple[Pass, ...]) -> FaceDetection | None:
    # JPEG DCT scaling does in the decoder what ``reduce``'s reducing_gap=2 would do
    # after it (shrink by 2^k while at least twice the largest copy a pass needs), so
    # a 12 MP selfie is never decoded at full size for detection.
    decoded, decode_scale = picture.decoded(
        min_long_side=DRAFT_GAP * max(step.max_side for step in passes)
    )
    hog = detector()
    # Each pass reuses the reduced copy when the size is unchanged.
    copies: dict[tuple[int, float], tuple[np.ndarray, int, float]] = {}
    #: (copy size, upsample, pad) already searched: an image smaller than a pass's
    #: size is the same copy for several passes, and searching it again finds nothing.
    searched: set[tuple[tuple[int, ...], int, float]] = set()
    for attempt in passes:
        if attempt.pad and max(decoded.size) / decode_scale > PORTRAIT_CROP_MAX_SIDE:
            continue  # a whole card or photo has context enough around the face
        key = (attempt.max_side, attempt.pad)
        if key not in copies:
            reduced, reduced_scale = reduce(decoded, attempt.max_side)
            copies[key] = (*bordered(np.asarray(reduced), attempt.pad), reduced_scale)
        pixels, border, scale = copies[key]
        done = (pixels.shape, attempt.upsample, attempt.pad)
        if done in searched:
            continue
        searched.add(done)
        found, found_scores, _ = hog.run(pixels, attempt.upsample, 0.0)
        boxes, scores = list(found), [float(s) for s in found_scores]
        if boxes:
            best = max(range(len(boxes)), key=scores.__getitem__)
            return FaceDetection(
                pixels=pixels,
                rect=boxes[best],
                score=scores[best],
                count=len(boxes),
                scale=scale * decode_scale,
                border=border,
                upsampled=attempt.upsample > 0,
            )
    return None


__all__ = [
    "DOCUMENT_MAX_SIDE",
    "DOCUMENT_QUICK_MAX_SIDE",
    "PORTRAIT_CROP_MAX_SIDE",
    "PORTRAIT_PAD",
    "SELFIE_MAX_SIDE",
    "FaceDetection",
    "Pass",
    "Role",
    "bordered",
    "detector",
    "document_passes",
    "find_face",
    "passes_for",
    "reduce",
]
