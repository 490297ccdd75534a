"""Local liveness: the blink + head-turn challenge, and the replay check.

Both run offline on dlib (``dlib-bin``) with the 68-point landmark model from the
``face_recognition_models`` distribution, located on disk like the face matcher's
models (:func:`kyc.engines.face_local.model_directory`: the package is never
imported, its ``__init__`` needs pkg_resources).

* :class:`ChallengeLivenessChecker` (method ``challenge``): over the application's
  ``selfie_frames/`` it measures the eye aspect ratio and the yaw on every frame and
  checks that every frame shows the selfie's person (face-embedding distance within
  the face matcher's threshold); :func:`kyc.domain.liveness.evaluate_challenge`
  decides.
* :class:`ReplayLivenessChecker` (method ``replay``, always on): it can only find
  spoofs (a clean result is ``passed=None``). Three measurements:

  - ``portrait_ncc``: normalised cross-correlation of the aligned, equalised 150 px
    face chips (the face alone) of the selfie and the document portrait;
  - ``context_ncc``: the same over wider chips (:data:`CONTEXT_PADDING`: face, hair,
    shoulders, background). A photo of the card's portrait carries the portrait's
    own surroundings; a different photo of the same person, even one taken the
    same day with a near-identical face, moves hair, clothes and background against
    the face. This is what separates the two (issue 14): over every same-person
    pair of the public set the face correlation of genuine pairs reaches 0.9 and
    more, while the surroundings stay far below a copy's;
  - ``print_peak_ratio``: isolated peaks in the spectrum of the face region
    (halftone dots, a screen's subpixels, moiré).

  The verdict (:func:`kyc.domain.liveness.replay_findings`, thresholds
  :data:`REPLAY_THRESHOLDS`) follows the rule that **a heuristic alone never fails
  an applicant**: any one measurement over its threshold is SELFIE_REPLAY_SUSPECTED
  (manual review). LIVENESS_FAILED needs **strong evidence**: a near-identical copy,
  face *and* surroundings both above levels no genuine pair of the development
  half approaches, or a resemblance to the portrait *and* a print/screen pattern
  together. Calibration on the development half of ``make bench-replay`` (figures
  for both halves in benchmarks/README.md): over the 238 genuine development pairs
  the face correlation reaches 0.904 and the surroundings 0.779, so a suspicion is
  face >= 0.92 or surroundings >= 0.80, and strong evidence face >= 0.95 *and*
  surroundings >= 0.85 (no genuine pair of either half has both: the held-out
  maxima are 0.930 and 0.846, on different pairs); print pattern >= 14 (genuine
  photos up to 11.6). On the held-out half: 0 of 284 genuine pairs failed, 3
  flagged for review; ~87-89 % of the replays with a face flagged (see the README
  for what is missed).

Both use the face the face matcher found (:func:`kyc.imaging.faces.find_face`, once
per image) and add the 68 landmarks on it. Thread safety follows face_local: dlib's
HOG detector is not shareable between threads (one per thread), the shape predictor is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from kyc.domain.liveness import (
    FrameMeasure,
    ReplayMeasures,
    ReplayThresholds,
    evaluate_challenge,
    face_eye_aspect_ratio,
    replay_findings,
    yaw_degrees,
)
from kyc.domain.records import Finding, LivenessEvidence, LivenessResult, Reason
from kyc.engines.base import EngineUnavailable
from kyc.imaging.decode import ImageUnreadable
from kyc.imaging.faces import DRAFT_GAP, Role, find_face, reduce
from kyc.imaging.picture import Picture

logger = logging.getLogger(__name__)

#: 68-point landmark model (iBUG 300-W) shipped in face_recognition_models.
SHAPE_68_FILE = "shape_predictor_68_face_landmarks.dat"
#: Long side of the copy frames and selfies are analysed on (as the face matcher).
ANALYSIS_MAX_SIDE = 500
#: Long side for the document: its portrait is small on the card.
DOCUMENT_MAX_SIDE = 1280
#: Side of the aligned face chip compared by the replay check (dlib's chip size).
CHIP_SIZE = 150

#: Padding of the wider chip (as dlib's ``get_face_chip``: a fraction of the face
#: size on each side): the face with hair, shoulders and the background around it.
CONTEXT_PADDING = 0.5
#: Least share of the wider chip that must lie inside both images for the
#: surroundings to be compared (a selfie cropped to the face has none).
CONTEXT_MIN_INSIDE = 0.5

#: Where the replay measurements become a suspicion (SELFIE_REPLAY_SUSPECTED) or
#: strong evidence (LIVENESS_FAILED): see the module docstring and
#: :func:`kyc.domain.liveness.replay_findings`. Calibrated on the development half
#: of ``make bench-replay``.
REPLAY_THRESHOLDS = ReplayThresholds(
    # Suspicion: the highest genuine value of the development half + 0.02 (face
    # 0.904, surroundings 0.779).
    copy_ncc=0.92,
    context_ncc=0.80,
    # Strong: face halfway from the genuine maximum to 1, surroundings 0.05 above
    # their suspicion level; both must hold (no genuine pair of either half has both).
    strong_copy_ncc=0.95,
    strong_context_ncc=0.85,
    # Genuine photos reach 9.4 (development) / 11.6 (held-out); halftoned copies 24+.
    print_peak_ratio=14.0,
)
#: Frequency band searched for print peaks, as fractions of Nyquist: from a ~16 px
#: screen period (a coarse print close to the camera) to just under the pixel grid.
PRINT_BAND = (0.12, 0.9)


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise EngineUnavailable("local liveness needs dlib (pip install dlib-bin)") from exc
    return dlib


def _shape68_path(model_dir: Path | None) -> Path:
    from kyc.engines.face_local import model_directory

    path = (model_dir or model_directory()) / SHAPE_68_FILE
    if not path.is_file():
        raise EngineUnavailable(
            f"{SHAPE_68_FILE} missing in {path.parent} (reinstall face_recognition_models)"
        )
    return path


class _Landmarks:
    """The shared 68-point predictor, applied to the face :func:`find_face` detected."""

    _lock = threading.Lock()
    _predictors: dict[Path, Any] = {}  # noqa: RUF012 - process-wide cache by design

    def __init__(self, model_dir: Path | None, *, upsample: int = 1) -> None:
        self._dlib = _import_dlib()
        self._path = _shape68_path(model_dir)
        self.upsample = upsample
        self.version = f"dlib-{self._dlib.__version__}+shape68"

    def predictor(self) -> Any:
        with self._lock:
            found = self._predictors.get(self._path)
            if found is None:
                found = self._predictors[self._path] = self._dlib.shape_predictor(str(self._path))
            return found

    def analyse(
        self, picture: Picture, *, role: Role, max_side: int, context: bool = False
    ) -> _Face:
        """Best-scored face in an image with its 68 landmarks and aligned chip.

        The face is the one :func:`kyc.imaging.faces.find_face` found for the face
        matcher (same picture, same role: detected once); the landmarks and the chip
        come from a copy of at most ``max_side`` pixels on the long side.

        Args:
            picture: the image (untrusted).
            role: ``selfie`` (selfies and challenge frames) or ``document``.
            max_side: long side of the copy the landmarks and the chip come from.
            context: also cut the wider chip (face, hair and what surrounds them,
                :data:`CONTEXT_PADDING`) the replay check compares.

        Raises:
            ImageUnreadable: not a usable image.
            _NoFace: no face was found.
        """
        detection = find_face(picture, role, upsample=self.upsample)
        if detection is None:
            raise _NoFace("no face")
        decoded, decode_scale = picture.decoded(min_long_side=DRAFT_GAP * max_side)
        copy_scale = min(1.0, max_side / max(decoded.size))
        scale = copy_scale * decode_scale  # analysis copy per uploaded-image pixel
        if detection.border == 0 and abs(scale - detection.scale) < 1e-9:
            # The detection was made on this very copy (selfies): reuse it as is.
            pixels, rect = detection.pixels, detection.rect
        else:
            copy, scale = reduce(decoded, max_side)
            scale *= decode_scale
            pixels = np.asarray(copy)
            left, top, right, bottom = detection.corners()
            rect = self._dlib.rectangle(
                round(left * scale), round(top * scale), round(right * scale), round(bottom * scale)
            )
        shape = self.predictor()(pixels, rect)
        points = [(float(p.x), float(p.y)) for p in shape.parts()]
        chip = np.asarray(self._dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=0.0))
        wide = inside = None
        if context:
            wide = np.asarray(
                self._dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CONTEXT_PADDING)
            )
            # Which chip pixels come from inside the image: dlib fills the rest with
            # black, which would correlate with the other chip's black fill (a tight
            # crop) or against its content. The same cut of an all-white image tells.
            white = np.full(pixels.shape, 255, dtype=np.uint8)
            cut = self._dlib.get_face_chip(white, shape, size=CHIP_SIZE, padding=CONTEXT_PADDING)
            inside = np.asarray(cut)[..., 0] >= 250
        return _Face(points=points, chip=chip, box=detection.corners(), context=wide, inside=inside)


class _NoFace(ValueError):
    """No face in the image."""


@dataclass(frozen=True, slots=True)
class _Face:
    points: list[tuple[float, float]]
    chip: np.ndarray  # CHIP_SIZE x CHIP_SIZE x 3, aligned on the landmarks
    box: tuple[int, ...]  # left, top, right, bottom in the uploaded image's pixels
    context: np.ndarray | None = None  # the wider chip (CONTEXT_PADDING), when asked for
    inside: np.ndarray | None = None  # its pixels that lie inside the image (bool)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --------------------------------------------------------------------------------------
# challenge
# --------------------------------------------------------------------------------------


class ChallengeLivenessChecker:
    """Blink + head turn over the application's selfie frames, all of the selfie's person.

    Args:
        matcher: the local face matcher, whose embeddings tell whether a frame shows
            the selfie's person (default: a new DlibFaceMatcher). Its selfie
            embedding is memoised on the selfie's Picture: not computed twice.
        max_distance: same-person embedding distance; kyc.wiring passes the distance
            of ``KYC_FACE_MATCH_THRESHOLD`` (default: the calibrated match distance).
        model_dir: folder with the dlib ``.dat`` files.

    Raises:
        EngineUnavailable: dlib or the 68-point model is missing.
    """

    name = "local-challenge"
    method = "challenge"

    def __init__(
        self,
        *,
        matcher: Any | None = None,
        max_distance: float | None = None,
        model_dir: Path | None = None,
    ) -> None:
        from kyc.engines.face_local import MATCH_DISTANCE, DlibFaceMatcher

        self._matcher = matcher or DlibFaceMatcher(model_dir=model_dir)
        self._landmarks = _Landmarks(model_dir, upsample=self._matcher.upsample)
        self.max_distance = MATCH_DISTANCE if max_distance is None else max_distance
        self.version = self._landmarks.version

    def check(self, evidence: LivenessEvidence) -> LivenessResult:
        """Measure every frame and decide the challenge (see evaluate_challenge)."""
        timings: dict[str, float] = {}
        if not evidence.frames:
            return evaluate_challenge(
                [], max_distance=self.max_distance, engine=self.name, engine_version=self.version
            )
        started = time.perf_counter()
        selfie = self._matcher.embed(evidence.selfie, role="selfie").descriptor
        measures: list[FrameMeasure] = []
        for index, frame in enumerate(evidence.frames):
            measures.append(self._measure(index, Picture.of(frame, name="frame"), selfie))
        timings["frames"] = _ms_since(started)
        result = evaluate_challenge(
            measures,
            max_distance=self.max_distance,
            engine=self.name,
            engine_version=self.version,
            timings_ms=timings,
        )
        if selfie is None and result.passed:
            # Blink and turn were shown, but nothing ties them to the selfie's face.
            return LivenessResult(
                passed=None,
                method=self.method,
                findings=(
                    Finding(
                        Reason.LIVENESS_NOT_ASSESSED,
                        "no face in the selfie to compare the frames with",
                    ),
                ),
                engine=self.name,
                engine_version=self.version,
                timings_ms=result.timings_ms,
                details=result.details,
            )
        return result

    def _measure(self, index: int, frame: Picture, selfie: np.ndarray | None) -> FrameMeasure:
        try:
            face = self._landmarks.analyse(frame, role="selfie", max_side=ANALYSIS_MAX_SIDE)
        except ImageUnreadable as exc:
            return FrameMeasure(index, problem=f"unreadable: {exc}")
        except _NoFace:
            return FrameMeasure(index, problem="no face")
        embedded = self._matcher.embed(frame, role="selfie").descriptor
        distance = (
            None
            if embedded is None or selfie is None
            else float(np.linalg.norm(np.asarray(embedded) - selfie))
        )
        try:
            ear = face_eye_aspect_ratio(face.points)
            yaw = yaw_degrees(face.points)
        except ValueError as exc:
            return FrameMeasure(index, problem=f"landmarks unusable: {exc}")
        return FrameMeasure(index, ear=ear, yaw=yaw, distance=distance)


# --------------------------------------------------------------------------------------
# replay
# --------------------------------------------------------------------------------------


def _equalised_gray(chip: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Gray chip with its histogram equalised (exposure and contrast removed).

    With ``where`` (a boolean mask), only those pixels, flattened, are returned.
    """
    gray = np.asarray(Image.fromarray(chip).convert("L"), dtype=np.float64)
    values = gray.ravel() if where is None else gray[where]
    # The rank of each pixel: the inverse of the sorting permutation (the same
    # result as argsort(argsort(...)), with one sort instead of two).
    order = np.argsort(values, kind="stable")
    ranks = np.empty_like(order)
    ranks[order] = np.arange(order.size)
    ranked = ranks / max(1, ranks.size - 1)
    return ranked.reshape(gray.shape) if where is None else ranked


def chip_ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation (-1..1) of two aligned face chips.

    Only the central part of the chip (the face, not hair or background) counts,
    after histogram equalisation, so re-photographing (exposure, white balance)
    barely changes it while a different photo of the same person does.
    """
    ga, gb = _equalised_gray(a), _equalised_gray(b)
    m = CHIP_SIZE // 6
    return _ncc(ga[m:-m, m:-m], gb[m:-m, m:-m])


def context_ncc(
    a: np.ndarray, b: np.ndarray, inside_a: np.ndarray, inside_b: np.ndarray
) -> float | None:
    """Normalised cross-correlation (-1..1) of two wider chips (:data:`CONTEXT_PADDING`).

    The whole chip counts: face, hair, shoulders and background. A photo of the
    card's portrait brings the portrait's own surroundings along; a different photo
    of the same person, even taken the same day, moves hair, clothes and background
    against the face. Only pixels inside both images count (equalised over those):
    a tight crop's missing border says nothing either way.

    Returns:
        The correlation, or None when less than :data:`CONTEXT_MIN_INSIDE` of the
        chip lies inside both images (too little surroundings to compare).
    """
    both = inside_a & inside_b
    if both.mean() < CONTEXT_MIN_INSIDE:
        return None
    return _ncc(_equalised_gray(a, both), _equalised_gray(b, both))


def _ncc(ga: np.ndarray, gb: np.ndarray) -> float:
    da, db = ga - ga.mean(), gb - gb.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    return float((da * db).sum() / denom) if denom > 0 else 0.0


def print_peak_ratio(pixels: np.ndarray, box: tuple[int, ...]) -> float:
    """How strongly a periodic pattern (halftone, moiré) stands out in the face region.

    The face box (grown by a quarter) is taken in gray, detrended and windowed
    (Hann); in its 2-D amplitude spectrum, a natural photo falls off smoothly with
    frequency while a printed or screen-shown face has isolated peaks at the screen
    frequency. The score is the highest amplitude in the mid/high band (a quarter
    to nine tenths of Nyquist) divided by the median amplitude at the same radius;
    frequencies on the 8-pixel JPEG block grid are ignored (every JPEG has them).

    Args:
        pixels: the analysed RGB image.
        box: the face (left, top, right, bottom) in ``pixels``.

    Returns:
        Peak-to-median ratio (about 3-9 for camera photos of faces).
    """
    left, top, right, bottom = box
    grow_w, grow_h = (right - left) // 4, (bottom - top) // 4
    h, w = pixels.shape[:2]
    crop = pixels[
        max(0, top - grow_h) : min(h, bottom + grow_h),
        max(0, left - grow_w) : min(w, right + grow_w),
    ]
    if min(crop.shape[:2]) < 32:
        return 0.0
    gray = np.asarray(Image.fromarray(crop).convert("L"), dtype=np.float64)
    size = min(gray.shape[0], gray.shape[1], 256)
    cy, cx = gray.shape[0] // 2, gray.shape[1] // 2
    gray = gray[cy - size // 2 : cy - size // 2 + size, cx - size // 2 : cx - size // 2 + size]
    gray = gray - gray.mean()
    window = np.outer(np.hanning(size), np.hanning(size))
    amp = np.abs(np.fft.fftshift(np.fft.fft2(gray * window)))
    freq = np.fft.fftshift(np.fft.fftfreq(size))  # cycles per pixel, -0.5..0.5
    fy, fx = np.meshgrid(freq, freq, indexing="ij")
    radius = np.sqrt(fx * fx + fy * fy) / 0.5  # fraction of Nyquist
    band = (radius >= PRINT_BAND[0]) & (radius <= PRINT_BAND[1])
    # The 8x8 JPEG grid puts energy at multiples of 1/8 cycle per pixel.
    # (The axes themselves, k = 0, stay: a screen at 45 degrees peaks there.)
    tol = 1.5 / size * 8
    on_grid = ((np.abs(fx * 8 - np.round(fx * 8)) < tol) & (np.round(fx * 8) != 0)) | (
        (np.abs(fy * 8 - np.round(fy * 8)) < tol) & (np.round(fy * 8) != 0)
    )
    usable = band & ~on_grid
    if not usable.any():
        return 0.0
    rings = np.round(radius * size / 2).astype(int)[usable]
    values = amp[usable]
    # Median per ring, vectorised: sort by (ring, amplitude) and take each run's middle.
    order = np.lexsort((values, rings))
    rings, values = rings[order], values[order]
    starts = np.flatnonzero(np.r_[True, rings[1:] != rings[:-1]])
    ends = np.r_[starts[1:], rings.size]
    medians = (values[(starts + ends - 1) // 2] + values[(starts + ends) // 2]) / 2
    peaks = values[ends - 1]  # each ring's largest amplitude (sorted last)
    ok = medians > 0
    return float((peaks[ok] / medians[ok]).max()) if ok.any() else 0.0


@dataclass(frozen=True, slots=True)
class ReplaySelfie:
    """The selfie side of the replay check: its face and its print-pattern score."""

    face: _Face
    print_peak_ratio: float


class ReplayLivenessChecker:
    """Finds a selfie copied from the document or shown from a print or a screen.

    Args:
        thresholds: where measurements become a suspicion or strong evidence
            (default :data:`REPLAY_THRESHOLDS`, measured).
        model_dir: folder with the dlib ``.dat`` files.
        upsample: the face matcher's ``KYC_FACE_UPSAMPLE``, so that the document's
            face detection is the matcher's own (one detection per image).

    Raises:
        EngineUnavailable: dlib or the 68-point model is missing.
    """

    name = "local-replay"
    method = "replay"

    def __init__(
        self,
        *,
        thresholds: ReplayThresholds = REPLAY_THRESHOLDS,
        model_dir: Path | None = None,
        upsample: int = 1,
    ) -> None:
        self._landmarks = _Landmarks(model_dir, upsample=upsample)
        self.thresholds = thresholds
        self.version = self._landmarks.version + "+ncc+context+spectrum"

    def selfie_side(self, selfie: bytes | Picture) -> ReplaySelfie:
        """The selfie's face (with the wider chip) and its print-pattern score.

        Raises:
            ImageUnreadable: not a usable image.
            _NoFace: no face in the selfie.
        """
        picture = Picture.of(selfie, name="selfie")
        face = self._landmarks.analyse(
            picture, role="selfie", max_side=ANALYSIS_MAX_SIDE, context=True
        )
        # A print's screen is finer than the analysis copy can hold (downscaling
        # would blur it away): the spectrum is taken on the image at full size.
        return ReplaySelfie(face, print_peak_ratio(np.asarray(picture.rgb()), face.box))

    def document_side(self, document: bytes | Picture) -> _Face:
        """The document portrait's face, with the wider chip.

        Raises:
            ImageUnreadable: not a usable image.
            _NoFace: no face on the document.
        """
        return self._landmarks.analyse(
            Picture.of(document, name="document"),
            role="document",
            max_side=DOCUMENT_MAX_SIDE,
            context=True,
        )

    @staticmethod
    def measure(selfie: ReplaySelfie, document: _Face | None) -> ReplayMeasures:
        """The replay measurements of one selfie against one document portrait."""
        if document is None:
            return ReplayMeasures(print_peak_ratio=selfie.print_peak_ratio)
        s, d = selfie.face, document
        assert s.context is not None and s.inside is not None  # analysed with context=True
        assert d.context is not None and d.inside is not None
        return ReplayMeasures(
            print_peak_ratio=selfie.print_peak_ratio,
            portrait_ncc=chip_ncc(s.chip, d.chip),
            context_ncc=context_ncc(s.context, d.context, s.inside, d.inside),
        )

    def check(self, evidence: LivenessEvidence) -> LivenessResult:
        """Compare the selfie's face with the document's and look for a print pattern.

        Returns:
            passed False (LIVENESS_FAILED) on strong evidence of a replay; passed None
            with SELFIE_REPLAY_SUSPECTED when the heuristics only suspect one;
            otherwise passed None (this check cannot show liveness) with no finding,
            or LIVENESS_NOT_ASSESSED when it could not look at all (no face,
            unreadable). The measurements are in ``details``.
        """
        timings: dict[str, float] = {}
        details: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            selfie = self.selfie_side(evidence.selfie)
        except (ImageUnreadable, _NoFace) as exc:
            return self._result(
                [Finding(Reason.LIVENESS_NOT_ASSESSED, f"replay check: selfie {_why(exc)}")],
                details,
                timings,
            )
        timings["selfie"] = _ms_since(started)

        document: _Face | None = None
        if evidence.document is not None:
            started = time.perf_counter()
            try:
                document = self.document_side(evidence.document)
            except (ImageUnreadable, _NoFace) as exc:
                details["document"] = _why(exc)
            timings["document"] = _ms_since(started)
        measures = self.measure(selfie, document)
        details["print_peak_ratio"] = round(selfie.print_peak_ratio, 3)
        if measures.portrait_ncc is not None:
            details["portrait_ncc"] = round(measures.portrait_ncc, 4)
        if measures.context_ncc is not None:
            details["context_ncc"] = round(measures.context_ncc, 4)
        return self._result(replay_findings(measures, self.thresholds), details, timings)

    def _result(
        self,
        findings: list[Finding],
        details: dict[str, Any],
        timings: dict[str, float],
    ) -> LivenessResult:
        failed = any(f.reason is Reason.LIVENESS_FAILED for f in findings)
        return LivenessResult(
            passed=False if failed else None,
            method=self.method,
            findings=tuple(findings),
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType(timings),
            details=MappingProxyType(details | {"thresholds": asdict(self.thresholds)}),
        )


def _why(exc: Exception) -> str:
    return "has no face" if isinstance(exc, _NoFace) else f"unreadable ({exc})"


__all__ = [
    "REPLAY_THRESHOLDS",
    "ChallengeLivenessChecker",
    "ReplayLivenessChecker",
    "ReplaySelfie",
    "chip_ncc",
    "context_ncc",
    "print_peak_ratio",
]
