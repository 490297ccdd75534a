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

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps

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
#: Width range (px, detector box) of the face the landmarks, the quality measures and
#: the descriptor are computed at (:func:`normalised_face`). Detection copies are
#: sized for the detector, so the same face can be 60 px wide in the 500 px copy of a
#: wide 12 MP shot and 125 px in that of an 800 px photo; the ResNet reads a 150 px
#: chip, so a face under 150 px is re-taken from more of the upload's pixels, and one
#: over 300 px from an antialiased reduction, so that every upload size gives the
#: network the same kind of chip.
FACE_NORMAL_MIN = 150
FACE_NORMAL_MAX = 300
#: Context kept around the face box in the normalised crop, per box side: the 25 %
#: padded chip of a face turned or tilted by up to ~45 degrees stays inside it.
CROP_MARGIN = 0.6


#: Fallback detector (issue 14): dlib's CNN face detector (max-margin object
#: detection, ``mmod_human_face_detector.dat`` from ``face_recognition_models``). It
#: finds faces the HOG misses (a mouth-and-chin mask, a turned head), but without BLAS
#: it costs ~0.5 s at a 200 px long side on an idle core and 1.3-2.2 s at a load of 8
#: on 2 cores (4-8 s at 500 px), growing with the pixel count; so it runs last, only
#: when every HOG search found nothing, and on a copy of at most this long side, which
#: bounds its cost whatever the upload. Its window finds faces down to ~80 px, so at
#: 200 px it covers selfies and portrait crops (the face fills a third of the frame or
#: more), not the small portrait on a whole card (``make bench-faces``).
MMOD_FILE = "mmod_human_face_detector.dat"
FALLBACK_MAX_SIDE = 200


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
        decode_min_side: the ``min_long_side`` the picture was decoded with for
            this detection (:meth:`Picture.decoded`), so a later step reuses that
            decode; None for a full-size decode.
        detector: ``hog`` (the passes), ``hog-fallback`` (the bordered and
            equalised searches after them) or ``cnn`` (the last fallback; ``score``
            is then the CNN's confidence, on a scale of its own).
    """

    pixels: np.ndarray
    rect: Any
    score: float
    count: int
    scale: float
    border: int
    upsampled: bool = False
    decode_min_side: int | None = None
    detector: str = "hog"

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


def find_face(
    picture: Picture, role: Role, *, upsample: int = 1, fallback: bool = True
) -> FaceDetection | None:
    """The subject's face in ``picture`` (detected once per picture, role and upsample).

    Args:
        picture: the image.
        role: ``selfie`` or ``document`` (sets the passes).
        upsample: HOG upsampling of the document's slow pass (the face matcher's
            ``KYC_FACE_UPSAMPLE``); ignored for selfies.
        fallback: when every HOG pass finds nothing, search a selfie or a portrait
            crop with the CNN detector (see ``FALLBACK_MAX_SIDE``; memoised too, so
            the matcher and the liveness checks share it). The document reader,
            which only wants the box of a face the quick passes find, turns it off.

    Returns:
        The detection, or None when no pass found a face.

    Raises:
        ImageUnreadable: the picture is not a usable image.
    """
    upsample = upsample if role == "document" else 0
    found: FaceDetection | None = None
    if upsample > 0:
        # The passes without upsampling come first whatever ``upsample`` is: when they
        # found a face (e.g. for the document reader, which detects without
        # upsampling), the upsampled search would return that same face.
        quick = picture.known(("face", role, 0))
        if quick is not None and not quick.upsampled:
            found = quick
    if found is None:
        key = ("face", role, upsample)
        found = picture.memo(key, lambda: _detect(picture, passes_for(role, upsample)))
    if found is None and fallback:
        found = picture.memo(("face", role, "cnn"), lambda: _fallback(picture, role))
    return found


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
                decode_min_side=DRAFT_GAP * max(step.max_side for step in passes),
                detector="hog",
            )
    return None


def _decode_min_side(role: Role) -> int:
    """``min_long_side`` of the HOG passes' decode (every pass list of a role shares it)."""
    return DRAFT_GAP * (SELFIE_MAX_SIDE if role == "selfie" else DOCUMENT_MAX_SIDE)


_cnn_local = threading.local()


def cnn_detector() -> Any:
    """This thread's dlib CNN face detector (its network keeps per-call state).

    Raises:
        kyc.engines.base.EngineUnavailable: face_recognition_models or its
            ``mmod_human_face_detector.dat`` is missing.
    """
    found = getattr(_cnn_local, "detector", None)
    if found is None:
        import dlib

        # Imported here: the engine module imports this one.
        from kyc.engines.base import EngineUnavailable
        from kyc.engines.face_local import model_directory

        path = model_directory() / MMOD_FILE
        if not path.is_file():
            raise EngineUnavailable(f"{MMOD_FILE} missing in {path.parent}")
        found = _cnn_local.detector = dlib.cnn_face_detection_model_v1(str(path))
    return found


def _fallback(picture: Picture, role: Role) -> FaceDetection | None:
    """Searches after every HOG pass failed, for selfies and portrait crops only.

    In order, the first that finds a face wins: the HOG on a bordered copy whose
    luminance is equalised (dark, backlit or low-contrast photos; the border gives a
    close-up the context the HOG window needs), for selfies also the bordered copy
    as is (a close-up selfie, like the portrait crops' padded pass); then the CNN
    detector on a copy of at most ``FALLBACK_MAX_SIDE`` px (faces partly hidden or
    turned). The landmarks and the descriptor are computed on the original pixels,
    never on the equalised ones.
    """
    min_side = _decode_min_side(role)
    decoded, decode_scale = picture.decoded(min_long_side=min_side)
    if role == "document" and max(decoded.size) / decode_scale > PORTRAIT_CROP_MAX_SIDE:
        return None  # a whole card or page: the HOG passes have searched it at 1280 px
    reduced, reduced_scale = reduce(
        decoded, SELFIE_MAX_SIDE if role == "selfie" else PORTRAIT_CROP_MAX_SIDE
    )
    scale = reduced_scale * decode_scale
    original, border = bordered(np.asarray(reduced), PORTRAIT_PAD)
    equalised, _ = bordered(np.asarray(ImageOps.equalize(reduced)), PORTRAIT_PAD)
    # The selfie passes never bordered the copy; the document's last pass did.
    searches = [equalised] if role == "document" else [original, equalised]
    hog = detector()
    for searched in searches:
        found, found_scores, _ = hog.run(searched, 1, 0.0)
        if len(found):
            best = max(range(len(found)), key=lambda i: float(found_scores[i]))
            return FaceDetection(
                pixels=original,
                rect=found[best],
                score=float(found_scores[best]),
                count=len(found),
                scale=scale,
                border=border,
                upsampled=True,
                decode_min_side=min_side,
                detector="hog-fallback",
            )
    small, small_scale = reduce(decoded, FALLBACK_MAX_SIDE)
    pixels = np.asarray(small)
    detections = list(cnn_detector()(pixels, 0))
    if not detections:
        return None
    chosen = max(detections, key=lambda d: float(d.confidence))
    return FaceDetection(
        pixels=pixels,
        rect=chosen.rect,
        score=float(chosen.confidence),
        count=len(detections),
        scale=small_scale * decode_scale,
        border=0,
        upsampled=False,
        decode_min_side=min_side,
        detector="cnn",
    )


@dataclass(frozen=True, slots=True)
class FaceCrop:
    """A face at a normalised size: the pixels and the face rectangle in them.

    Attributes:
        pixels: RGB array holding the face and ``CROP_MARGIN`` of context.
        rect: dlib rectangle of the detected face in ``pixels``.
        scale: ``pixels`` per uploaded-image pixel.
    """

    pixels: np.ndarray
    rect: Any
    scale: float


def normalised_face(picture: Picture, detection: FaceDetection) -> FaceCrop:
    """The detected face re-taken so its box is ``FACE_NORMAL_MIN``-``FACE_NORMAL_MAX`` px wide.

    Whatever the upload's size, the landmarks and the descriptor chip then come from
    a face of the same scale (issue 14, class 5): a face under the range is re-taken
    from a larger decode of the upload (never enlarged beyond the upload's own
    pixels), one over it from an antialiased reduction. A face already in range is
    returned as found (same pixels and rectangle: no extra cost). Only the face and
    its margin are resampled, so a 12 MP upload costs a crop, not a full resize.

    Args:
        picture: the image the detection was made on.
        detection: the face :func:`find_face` found in it.

    Returns:
        The crop with the face rectangle in its coordinates.

    Raises:
        ImageUnreadable: the picture is not a usable image (not after a detection).
    """
    import dlib

    rect = detection.rect
    width = rect.width()
    target = min(max(width, FACE_NORMAL_MIN), FACE_NORMAL_MAX)
    # Output pixels per uploaded-image pixel: never above 1 (no invented detail).
    scale = min(detection.scale * target / width, 1.0)
    if abs(scale - detection.scale) <= 1e-6 * detection.scale:
        return FaceCrop(detection.pixels, rect, detection.scale)
    decoded, decode_scale = picture.decoded(min_long_side=detection.decode_min_side)
    if decode_scale < scale:
        # That decode is too coarse (a JPEG reduced by the DCT): decode enough pixels.
        needed = math.ceil(max(decoded.size) / decode_scale * scale)
        decoded, decode_scale = picture.decoded(min_long_side=needed)
        scale = min(scale, decode_scale)
    # The face box and its margin, in uploaded-image pixels.
    left = (rect.left() - detection.border) / detection.scale
    top = (rect.top() - detection.border) / detection.scale
    box_w, box_h = rect.width() / detection.scale, rect.height() / detection.scale
    margin = CROP_MARGIN * max(box_w, box_h)
    region = (left - margin, top - margin, left + box_w + margin, top + box_h + margin)
    upload_w, upload_h = decoded.width / decode_scale, decoded.height / decode_scale
    clipped = (
        max(0.0, region[0]),
        max(0.0, region[1]),
        min(upload_w, region[2]),
        min(upload_h, region[3]),
    )
    size = (
        max(1, round((clipped[2] - clipped[0]) * scale)),
        max(1, round((clipped[3] - clipped[1]) * scale)),
    )
    crop = decoded.resize(
        size,
        Image.Resampling.BILINEAR,
        box=(
            clipped[0] * decode_scale,
            clipped[1] * decode_scale,
            clipped[2] * decode_scale,
            clipped[3] * decode_scale,
        ),
        reducing_gap=2.0 if scale < decode_scale else None,
    )
    pad = (
        round((clipped[0] - region[0]) * scale),
        round((clipped[1] - region[1]) * scale),
        round((region[2] - clipped[2]) * scale),
        round((region[3] - clipped[3]) * scale),
    )
    pixels = np.asarray(crop)
    if any(pad):
        # Outside the image: zeros, as dlib's chip extraction reads them; replicated
        # edges when the detector itself searched a bordered copy (portrait crops).
        widths = ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0))
        if detection.border:
            pixels = np.pad(pixels, widths, mode="edge")
        else:
            pixels = np.pad(pixels, widths, mode="constant")
    x0, y0 = round((left - region[0]) * scale), round((top - region[1]) * scale)
    face = dlib.rectangle(
        x0, y0, x0 + max(1, round(box_w * scale)) - 1, y0 + max(1, round(box_h * scale)) - 1
    )
    return FaceCrop(pixels, face, scale)


__all__ = [
    "DOCUMENT_MAX_SIDE",
    "DOCUMENT_QUICK_MAX_SIDE",
    "FALLBACK_MAX_SIDE",
    "MMOD_FILE",
    "PORTRAIT_CROP_MAX_SIDE",
    "PORTRAIT_PAD",
    "SELFIE_MAX_SIDE",
    "FaceCrop",
    "FaceDetection",
    "Pass",
    "Role",
    "bordered",
    "cnn_detector",
    "detector",
    "document_passes",
    "find_face",
    "normalised_face",
    "passes_for",
    "reduce",
]
