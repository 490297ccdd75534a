"""Local FaceMatcher: dlib HOG detector, 5-point landmarks, ResNet face embeddings.

Pipeline for each image (selfie and document):

1. decode with :func:`kyc.imaging.decode.load_image_reduced` (EXIF orientation, bomb
   guard; a large JPEG is decoded at 1/2-1/8 scale, never below twice the largest
   detection copy);
2. find faces with dlib's HOG frontal face detector on a downscaled copy, cheapest
   pass first (see ``_SELFIE_PASSES`` / ``_document_passes``), and keep the face with
   the highest detector score (an ID card can carry a second, faint "ghost" portrait
   and a selfie can show a bystander: the best-scored face is the subject, not the
   biggest box);
3. fit dlib's 5-point landmark model and apply the quality gates of
   :mod:`kyc.imaging.face_quality` (face at least 40 px, not blurred, not turned too
   far): a face that fails one gives ``FACE_QUALITY_LOW`` saying which image and
   why, not a similarity;
4. compute the 128-d ResNet descriptor (``dlib_face_recognition_resnet_model_v1``);
5. compare the two descriptors by Euclidean distance and map it to CompareFaces'
   0-100 similarity scale with :func:`distance_to_similarity`.

Model files come from the ``face_recognition_models`` distribution. Its
``__init__`` imports ``pkg_resources`` (gone from setuptools >= 81), so we only locate
the package folder with ``importlib.util.find_spec`` and never import it.

Thread safety (the matcher is shared by Prefect's thread task runner), measured
on dlib 20.0.1 (``dlib-bin``):

* the HOG detector is **not** safe to share: ``object_detector::operator()`` loads
  the image into its member scanner, and the Python binding releases the GIL while
  it runs (two threads run detections truly in parallel). Sharing one detector
  between two threads corrupted the heap (``free(): corrupted unsorted chunks``).
  Each thread therefore gets its own detector (``threading.local``); creating one
  costs about 0.2 s once per thread and keeps detection parallel;
* the shape predictor is documented as safe for concurrent use (const
  ``operator()``), so one instance is shared;
* the ResNet network keeps its layer outputs in member tensors, so concurrent
  forward passes would race; the binding holds the GIL for the whole call (two
  threads got no speed-up), so a lock around it costs nothing and one 22 MB network
  is loaded per process instead of one per thread.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from PIL import Image

from kyc.domain.records import FaceComparison, Finding, Reason
from kyc.engines.base import EngineUnavailable
from kyc.imaging.decode import ImageUnreadable, load_image_reduced
from kyc.imaging.face_quality import (
    MIN_SHARPNESS,
    FacePose,
    chip_sharpness,
    pose_from_5_landmarks,
    quality_problems,
)

logger = logging.getLogger(__name__)

Role = Literal["selfie", "document"]

#: Model files used from the ``face_recognition_models`` package.
SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"

#: dlib's documented decision threshold for this ResNet model: two descriptors closer
#: than 0.6 are the same person (99.38% on LFW, per dlib's model notes). Kept for
#: reference; the pipeline uses the calibrated anchors below.
SAME_PERSON_DISTANCE = 0.6

#: Calibrated anchors of the similarity scale, from ``make bench-faces`` on the
#: public face set (138 photos, 39 identities, 261 genuine / 9,192 impostor pairs;
#: benchmarks/README.md). The procedure: the match anchor is the distance at which
#: impostors match at most 0.1 % of the time, the reject anchor at most 1 %. Its
#: held-out estimate (chosen on one identity fold, measured on the other, both ways,
#: pooled): match FMR 0.09 % (4/4431), FNMR 0.77 % (2/261); reject FMR 0.97 %
#: (43/4431), FNMR 0 % (0/261). The values below are that procedure on all pairs.
#: CompareFaces' default SimilarityThreshold is 80, so 80 is our match point.
MATCH_DISTANCE = 0.594
MATCH_SIMILARITY = 80.0
#: 70 is the reject point (FMR <= 1 %). Between 70 and 80 a pair is inconclusive
#: (manual review); below 70 it is a mismatch (FAIL).
REJECT_DISTANCE = 0.661
REJECT_SIMILARITY = 70.0
#: Beyond the reject anchor the scale keeps the slope of the 80 -> 70 band down to 0,
#: so each band of 10 points is as wide in distance as the calibrated one.
ZERO_SIMILARITY_DISTANCE = REJECT_DISTANCE + (REJECT_SIMILARITY / 10.0) * (
    REJECT_DISTANCE - MATCH_DISTANCE
)
#: (distance, similarity) anchors of the piecewise-linear mapping, distance ascending.
_ANCHORS = (
    (0.0, 100.0),
    (MATCH_DISTANCE, MATCH_SIMILARITY),
    (REJECT_DISTANCE, REJECT_SIMILARITY),
    (ZERO_SIMILARITY_DISTANCE, 0.0),
)

#: A face smaller than this (either side, in the uploaded image's pixels) is too
#: small for a trustworthy embedding: the network works on a 150 px chip, so a
#: smaller face would be upscaled about 4x.
MIN_FACE_PX = 40

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

#: The decoder may shrink a JPEG (``Image.draft``) while its long side stays at least
#: this many times the largest copy a detection pass uses: the same rule as the
#: ``reducing_gap=2.0`` of ``_reduce``, so the copies see the same kind of filtering.
_DRAFT_GAP = 2

#: ``num_jitters`` for the descriptor. dlib treats 0 and 1 alike (one forward pass,
#: ~80 ms CPU with ``dlib-bin``, which has no BLAS; ~16 ms with a dlib built against
#: OpenBLAS, ``make dlib-blas``); each extra jitter adds a full pass.
NUM_JITTERS = 0

#: Logistic slope of :func:`score_to_confidence`, per unit of HOG score.
_CONFIDENCE_SLOPE = 2.5


def distance_to_similarity(distance: float) -> float:
    """Map a descriptor distance to CompareFaces' 0-100 similarity scale.

    Piecewise linear through calibrated anchors, so a threshold on this scale means
    an error rate measured on real pairs: ``0 -> 100``; ``MATCH_DISTANCE -> 80``
    (impostors at or above 80: FMR <= 0.1 %); ``REJECT_DISTANCE -> 70`` (FMR <= 1 %);
    then the same slope down to 0 at ``ZERO_SIMILARITY_DISTANCE``; clamped outside.
    80 is CompareFaces' default SimilarityThreshold; AWS publishes no error rate
    for it, so what "80" means here is our measurement, documented in
    benchmarks/README.md (``make bench-faces``).

    Args:
        distance: Euclidean distance between two 128-d dlib descriptors (>= 0).

    Returns:
        Similarity in ``[0, 100]``, strictly decreasing on
        ``[0, ZERO_SIMILARITY_DISTANCE]``.

    Raises:
        ValueError: distance is NaN.
    """
    if math.isnan(distance):
        raise ValueError("distance is NaN")
    if distance <= 0.0:
        return 100.0
    for (d0, s0), (d1, s1) in itertools.pairwise(_ANCHORS):
        if distance <= d1:
            return s0 + (s1 - s0) * (distance - d0) / (d1 - d0)
    return 0.0


def similarity_to_distance(similarity: float) -> float:
    """Inverse of :func:`distance_to_similarity` on its strictly monotonic part.

    Used to express a similarity threshold as a distance (e.g. 80 -> MATCH_DISTANCE).

    Args:
        similarity: value in ``[0, 100]``.

    Returns:
        The distance that maps to ``similarity``; 0 gives ZERO_SIMILARITY_DISTANCE.

    Raises:
        ValueError: similarity outside ``[0, 100]``.
    """
    if not 0.0 <= similarity <= 100.0:
        raise ValueError(f"similarity must be within [0, 100], got {similarity}")
    for (d0, s0), (d1, s1) in itertools.pairwise(_ANCHORS):
        if similarity >= s1:
            return d0 + (d1 - d0) * (s0 - similarity) / (s0 - s1)
    return ZERO_SIMILARITY_DISTANCE


def score_to_confidence(score: float) -> float:
    """Map a dlib HOG detection score to a 0-100 face-detection confidence.

    The detector returns ``score = SVM output - threshold`` (> 0 for every detection
    at the default threshold). We use a logistic curve centred on the detector's own
    decision boundary: ``100 / (1 + exp(-2.5 * score))``, so a face barely over the
    threshold gets 50, score 1 -> 92.4, score 2 -> 99.3 (the median on our public face
    set is about 2). Monotonic increasing; the slope is a readable choice, not a
    calibrated probability.

    Args:
        score: detection score from ``detector.run``.

    Returns:
        Confidence in ``(0, 100)``.
    """
    # logistic(x) == (1 + tanh(x / 2)) / 2, written with tanh so that no score can
    # overflow math.exp.
    return 50.0 * (1.0 + math.tanh(_CONFIDENCE_SLOPE * score / 2.0))


def model_directory() -> Path:
    """Locate the ``models`` folder of the ``face_recognition_models`` package.

    The package is located, never imported (its ``__init__`` needs pkg_resources).

    Returns:
        The folder holding the ``.dat`` model files.

    Raises:
        EngineUnavailable: the package is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EngineUnavailable(
            "local face matcher needs the face_recognition_models package "
            "(pip install face_recognition_models)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise EngineUnavailable("local face matcher needs dlib (pip install dlib-bin)") from exc
    return dlib


def _model_paths(folder: Path) -> tuple[Path, Path]:
    paths = (folder / SHAPE_PREDICTOR_FILE, folder / RECOGNITION_MODEL_FILE)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise EngineUnavailable(
            f"face model file(s) missing in {folder}: {', '.join(missing)} "
            "(reinstall face_recognition_models)"
        )
    return paths


class _Models:
    """dlib objects of one model folder, loaded once per process (see module doc)."""

    def __init__(self, dlib: Any, folder: Path) -> None:
        shape_path, recognition_path = _model_paths(folder)
        started = time.perf_counter()
        self._dlib = dlib
        self.shape_predictor = dlib.shape_predictor(str(shape_path))
        self._recognizer = dlib.face_recognition_model_v1(str(recognition_path))
        self._recognizer_lock = threading.Lock()
        self._local = threading.local()
        logger.info(
            "loaded dlib face models from %s in %.0f ms",
            folder,
            (time.perf_counter() - started) * 1000,
        )

    def detector(self) -> Any:
        """This thread's HOG detector (not shareable between threads)."""
        found = getattr(self._local, "detector", None)
        if found is None:
            found = self._dlib.get_frontal_face_detector()
            self._local.detector = found
        return found

    def descriptor(self, image: np.ndarray, shape: Any) -> np.ndarray:
        """128-d descriptor of the face whose landmarks are ``shape``."""
        with self._recognizer_lock:
            vector = self._recognizer.compute_face_descriptor(image, shape, NUM_JITTERS)
        return np.asarray(vector, dtype=np.float64)


_MODELS: dict[Path, _Models] = {}
_MODELS_LOCK = threading.Lock()


def _models_for(dlib: Any, folder: Path) -> _Models:
    with _MODELS_LOCK:
        models = _MODELS.get(folder)
        if models is None:
            models = _MODELS[folder] = _Models(dlib, folder)
        return models


@dataclass(frozen=True, slots=True)
class FaceEmbedding:
    """The face chosen in one image and its descriptor.

    Attributes:
        descriptor: the 128-d ResNet descriptor, None when no usable face was found.
        confidence: detection confidence 0-100 of the chosen face (see
            :func:`score_to_confidence`), None when no face was found.
        face_count: faces the detector found; None when the image was unreadable.
        box: chosen face as ``(left, top, width, height)`` in the uploaded image's
            pixels, None when no face was found.
        findings: why there is no usable descriptor (empty when there is one).
        timings_ms: stage name to milliseconds.
        sharpness: Laplacian variance of the aligned face chip (see
            :mod:`kyc.imaging.face_quality`), None when no landmarks were fitted.
        pose: head pose from the landmarks, None likewise.
    """

    descriptor: np.ndarray | None
    confidence: float | None = None
    face_count: int | None = None
    box: tuple[int, int, int, int] | None = None
    findings: tuple[Finding, ...] = ()
    timings_ms: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    sharpness: float | None = None
    pose: FacePose | None = None


def _reduce(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """Downscale so the long side is at most ``max_side``; return the scale used."""
    long_side = max(image.size)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # reducing_gap: Pillow first shrinks by an integer factor with a cheap box filter,
    # then resamples the rest; this keeps a 12 MP phone photo from dominating the cost.
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0), scale


#: Long side up to which a document image counts as a portrait crop (the document
#: reader's crop of the card photo, or a photo of the portrait alone) and gets the
#: padded pass below.
PORTRAIT_CROP_MAX_SIDE = 640
#: Border added on each side, per long side, before the padded pass. The HOG window
#: needs context around the face: on a tight crop (forehead to chin, ear to ear) it
#: missed 6 of 552 crops of the public set; with a 30 % replicated border it found 4
#: of them and the other 2 are blurred, strongly turned faces.
PORTRAIT_PAD = 0.3

#: Size of the aligned face chip the sharpness is measured on (the ResNet's own size).
CHIP_SIZE = 150


@dataclass(frozen=True, slots=True)
class _Pass:
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
_SELFIE_PASSES = (_Pass(SELFIE_MAX_SIDE, 0), _Pass(SELFIE_MAX_SIDE, 1))


def _document_passes(upsample: int) -> tuple[_Pass, ...]:
    """Detection passes for the document, cheapest first; the first that finds a face wins.

    Measured on 1012x638 ID-1 cards on this 2-core machine: the 640 px quick pass
    (~15 ms) finds faces of >= ~115 px on the card and found all 137 readable
    head-and-shoulders portraits of the public face set; the full-size pass without
    upsampling (~38 ms) adds faces of 73-115 px; the upsampled pass (~170 ms at
    ``upsample=1``) adds faces down to ~37 px and runs only when the others fail.
    The last, padded pass only runs on small images (a portrait crop, see
    ``PORTRAIT_PAD``) where the others found nothing.
    """
    passes = [_Pass(DOCUMENT_QUICK_MAX_SIDE, 0), _Pass(DOCUMENT_MAX_SIDE, 0)]
    if upsample > 0:
        passes.append(_Pass(DOCUMENT_MAX_SIDE, upsample))
    passes.append(_Pass(PORTRAIT_CROP_MAX_SIDE, max(upsample, 1), PORTRAIT_PAD))
    return tuple(passes)


def _bordered(pixels: np.ndarray, pad: float) -> tuple[np.ndarray, int]:
    """``pixels`` with a replicated border of ``pad`` x long side; returns the border width."""
    width = round(pad * max(pixels.shape[:2]))
    if width == 0:
        return pixels, 0
    return np.pad(pixels, ((width, width), (width, width), (0, 0)), mode="edge"), width


class DlibFaceMatcher:
    """FaceMatcher on dlib's HOG detector and ResNet descriptors (runs offline).

    Models load lazily on the first comparison and are cached for the process, so
    constructing a matcher per task is cheap. One instance may be used from many
    threads at once (see the module docstring for how).

    Args:
        upsample: HOG upsampling passes for the document when the quick passes find
            no face; default ``get_settings().face_upsample``.
        model_dir: folder with the dlib ``.dat`` files; default the
            ``face_recognition_models`` package's ``models`` folder.
        min_sharpness: blur gate (see :mod:`kyc.imaging.face_quality`); 0 turns it
            off (the calibration benchmark measures blur that way).

    Raises:
        EngineUnavailable: dlib, the model package or a model file is missing.
    """

    name = "local-dlib"

    def __init__(
        self,
        *,
        upsample: int | None = None,
        model_dir: Path | None = None,
        min_sharpness: float = MIN_SHARPNESS,
    ) -> None:
        self._dlib = _import_dlib()
        self._model_dir = (model_dir or model_directory()).resolve()
        _model_paths(self._model_dir)  # fail now, in wiring, rather than mid-flow
        if upsample is None:
            from kyc.settings import get_settings

            upsample = get_settings().face_upsample
        if not 0 <= upsample <= 3:
            raise ValueError(f"upsample must be within 0..3, got {upsample}")
        self.upsample = upsample
        self.min_sharpness = min_sharpness
        self.version = f"dlib-{self._dlib.__version__}+resnet_v1"
        self._document_passes = _document_passes(upsample)

    def _models(self) -> _Models:
        return _models_for(self._dlib, self._model_dir)

    def embed(self, image: bytes, *, role: Role = "selfie") -> FaceEmbedding:
        """Find the best face in one image and compute its descriptor.

        Args:
            image: image bytes (untrusted).
            role: ``selfie`` or ``document``; sets the detection passes and the
                wording and codes of findings.

        Returns:
            The embedding, or findings (never an exception for bad input):
            selfie unreadable -> SELFIE_UNREADABLE; document unreadable ->
            FACE_NOT_FOUND ("document image unreadable: ..."); no face ->
            FACE_NOT_FOUND; a face under MIN_FACE_PX, blurred or turned too far
            -> FACE_QUALITY_LOW (one finding listing every problem).
        """
        where = "in selfie" if role == "selfie" else "on document"
        timings: dict[str, float] = {}
        started = time.perf_counter()
        passes = _SELFIE_PASSES if role == "selfie" else self._document_passes
        try:
            # JPEG DCT scaling does in the decoder what ``_reduce``'s reducing_gap=2
            # would do after it (shrink by 2^k while at least twice the largest copy
            # a pass needs), so a 12 MP selfie is never decoded at full size.
            decoded, decode_scale = load_image_reduced(
                image, mode="RGB", min_long_side=_DRAFT_GAP * max(step.max_side for step in passes)
            )
        except ImageUnreadable as exc:
            if role == "selfie":
                finding = Finding(Reason.SELFIE_UNREADABLE, str(exc))
            else:
                finding = Finding(Reason.FACE_NOT_FOUND, f"document image unreadable: {exc}")
            return FaceEmbedding(None, findings=(finding,))
        timings["decode"] = _ms_since(started)

        models = self._models()
        detector = models.detector()
        started = time.perf_counter()
        # Each pass reuses the reduced copy when the size is unchanged.
        copies: dict[tuple[int, float], tuple[np.ndarray, int, float]] = {}
        boxes: list[Any] = []
        scores: list[float] = []
        pixels, scale, border = np.empty((0, 0, 3), np.uint8), 1.0, 0
        for attempt in passes:
            if attempt.pad and max(decoded.size) / decode_scale > PORTRAIT_CROP_MAX_SIDE:
                continue  # a whole card or photo has context enough around the face
            key = (attempt.max_side, attempt.pad)
            if key not in copies:
                reduced, reduced_scale = _reduce(decoded, attempt.max_side)
                copies[key] = (*_bordered(np.asarray(reduced), attempt.pad), reduced_scale)
            pixels, border, scale = copies[key]
            found, found_scores, _ = detector.run(pixels, attempt.upsample, 0.0)
            boxes, scores = list(found), [float(s) for s in found_scores]
            if boxes:
                break
        timings["detect"] = _ms_since(started)
        if not boxes:
            finding = Finding(Reason.FACE_NOT_FOUND, f"no face {where}")
            return FaceEmbedding(
                None, face_count=0, findings=(finding,), timings_ms=MappingProxyType(timings)
            )

        # The subject is the face the detector is surest of, not the biggest box.
        best = max(range(len(boxes)), key=scores.__getitem__)
        rect, score = boxes[best], scores[best]
        confidence = score_to_confidence(score)
        scale *= decode_scale  # uploaded image -> detection copy
        box = (
            round((rect.left() - border) / scale),
            round((rect.top() - border) / scale),
            round(rect.width() / scale),
            round(rect.height() / scale),
        )
        if len(boxes) > 1:
            logger.debug("%d faces %s; using the best-scored one", len(boxes), where)

        def rejected(detail: str, **measured: Any) -> FaceEmbedding:
            """A face found but stopped by a quality gate: FACE_QUALITY_LOW, no descriptor."""
            return FaceEmbedding(
                None,
                confidence=confidence,
                face_count=len(boxes),
                box=box,
                findings=(Finding(Reason.FACE_QUALITY_LOW, f"face {where} {detail}"),),
                timings_ms=MappingProxyType(timings),
                **measured,
            )

        if min(box[2], box[3]) < MIN_FACE_PX:
            return rejected(f"too small: {box[2]}x{box[3]} px (minimum {MIN_FACE_PX})")

        started = time.perf_counter()
        # Landmarks and descriptor on the same copy the face was found on, so the
        # rectangle needs no rescaling (dlib maps upsampled boxes back to it).
        shape = models.shape_predictor(pixels, rect)
        # Sharpness on the aligned chip without padding: only face pixels, at the
        # network's own scale, so it does not depend on the photo's resolution.
        chip = self._dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=0.0)
        sharpness = chip_sharpness(np.asarray(chip))
        points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(5)], np.float64)
        pose = pose_from_5_landmarks(points)
        timings["quality"] = _ms_since(started)
        problems = quality_problems(
            sharpness=sharpness, pose=pose, min_sharpness=self.min_sharpness
        )
        if problems:
            return rejected("; ".join(problems), sharpness=sharpness, pose=pose)
        started = time.perf_counter()
        descriptor = models.descriptor(pixels, shape)
        timings["embed"] = _ms_since(started)
        return FaceEmbedding(
            descriptor,
            confidence=confidence,
            face_count=len(boxes),
            box=box,
            timings_ms=MappingProxyType(timings),
            sharpness=sharpness,
            pose=pose,
        )

    def compare(self, selfie: bytes, document: bytes) -> FaceComparison:
        """Compare the selfie's face with the document's face.

        Both images are always analysed, so a result reports every problem at once.

        Args:
            selfie: selfie image bytes (CompareFaces SourceImage).
            document: document front or portrait crop bytes (TargetImage).

        Returns:
            Similarity 0-100 and the raw distance, or similarity None with findings
            (SELFIE_UNREADABLE, FACE_NOT_FOUND, FACE_QUALITY_LOW); never raises for
            bad input.
        """
        started = time.perf_counter()
        source = self.embed(selfie, role="selfie")
        target = self.embed(document, role="document")
        timings = {f"selfie_{k}": v for k, v in source.timings_ms.items()}
        timings |= {f"document_{k}": v for k, v in target.timings_ms.items()}
        distance = similarity = None
        if source.descriptor is not None and target.descriptor is not None:
            distance = float(np.linalg.norm(source.descriptor - target.descriptor))
            similarity = distance_to_similarity(distance)
        timings["total"] = _ms_since(started)
        logger.debug(
            "face compare: faces selfie=%s document=%s similarity=%s in %.0f ms",
            source.face_count,
            target.face_count,
            "none" if similarity is None else f"{similarity:.1f}",
            timings["total"],
        )
        return FaceComparison(
            similarity=similarity,
            distance=distance,
            source_confidence=source.confidence,
            target_confidence=target.confidence,
            findings=source.findings + target.findings,
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType(timings),
            source_face_count=source.face_count,
            target_face_count=target.face_count,
            # Kept for the duplicate-identity search (kyc.db.faces); never logged.
            source_embedding=(
                None if source.descriptor is None else tuple(float(x) for x in source.descriptor)
            ),
        )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
