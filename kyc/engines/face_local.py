"""Local FaceMatcher: dlib HOG detector, 5-point landmarks, ResNet face embeddings.

Pipeline for each image (selfie and document), once per image (memoised on its
:class:`~kyc.imaging.picture.Picture`, so the liveness checks and the duplicate search
reuse it):

1. find the subject's face with :func:`kyc.imaging.faces.find_face` (decoded once,
   EXIF orientation and bomb guard applied; dlib's HOG detector on downscaled copies,
   cheapest pass first, best-scored face kept) — the same detection the liveness
   checks use; when every HOG pass finds nothing, a fallback searches selfies and
   portrait crops again (equalised and bordered HOG, then dlib's CNN detector on a
   copy of at most 200 px), memoised in the same way;
2. re-take the face at a normalised size (box 150-300 px,
   :func:`kyc.imaging.faces.normalised_face`), so the upload's size does not change
   the chip the network reads; fit dlib's 5-point landmark model and apply the
   quality gates of :mod:`kyc.imaging.face_quality` (face at least 40 px, not
   blurred, not turned too far): a face that fails one gives ``FACE_QUALITY_LOW``
   saying which image and why, not a similarity;
3. compute the 128-d ResNet descriptor (``dlib_face_recognition_resnet_model_v1``);
4. compare the two descriptors by Euclidean distance and map it to CompareFaces'
   0-100 similarity scale with :func:`distance_to_similarity`.

Model files come from the ``face_recognition_models`` distribution. Its
``__init__`` imports ``pkg_resources`` (gone from setuptools >= 81), so we only locate
the package folder with ``importlib.util.find_spec`` and never import it.

Thread safety (the matcher is shared by Prefect's thread task runner), measured
on dlib 20.0.1 (``dlib-bin``):

* the HOG detector is not safe to share: one per thread (see kyc.imaging.faces);
* the shape predictor is documented as safe for concurrent use (const
  ``operator()``), so one instance is shared;
* the ResNet network keeps its layer outputs in member tensors, so concurrent
  forward passes would race; the binding holds the GIL for the whole call, so a lock
  around it costs nothing and one 22 MB network is loaded per process. Because it
  holds the GIL (~80-140 ms per face), the pipeline computes descriptors in a worker
  process instead (:class:`DescriptorWorker`, ``KYC_FACE_DESCRIPTOR_PROCESS``).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from kyc.domain.records import FaceComparison, Finding, Reason
from kyc.engines.base import EngineUnavailable
from kyc.imaging.decode import ImageUnreadable
from kyc.imaging.face_quality import (
    MIN_SHARPNESS,
    FacePose,
    chip_sharpness,
    pose_from_5_landmarks,
    quality_problems,
)
from kyc.imaging.faces import Role, document_passes, find_face, normalised_face
from kyc.imaging.picture import Picture

logger = logging.getLogger(__name__)

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
#: Re-measured for issue 14 with the face normalised to a 150-300 px box (seed-14
#: development / held-out halves of identities, every pair within each half): the
#: FMR-0.1 % point on all pairs is 0.596; at 0.594 the held-out half has FMR 0 %
#: (0/2015), FNMR 3.08 % (4/130); the dev-chosen 0.620 would give FMR 0.10-0.16 %
#: held out (photos / cards), so the anchor stays (benchmarks/README.md).
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
        logger.info(
            "loaded dlib face models from %s in %.0f ms",
            folder,
            (time.perf_counter() - started) * 1000,
        )

    def descriptor(self, chip: np.ndarray) -> np.ndarray:
        """128-d descriptor of an aligned face chip (see :func:`descriptor_chip`)."""
        with self._recognizer_lock:
            vector = self._recognizer.compute_face_descriptor(chip, NUM_JITTERS)
        return np.asarray(vector, dtype=np.float64)


#: Size and padding of the chip the ResNet reads: what dlib's
#: ``compute_face_descriptor(image, shape)`` extracts itself (150 px, 25 % padding),
#: so a descriptor from the chip equals the one from image + landmarks, to the bit.
DESCRIPTOR_CHIP = (150, 0.25)


def descriptor_chip(dlib: Any, pixels: np.ndarray, shape: Any) -> np.ndarray:
    """The aligned 150 px chip the descriptor network reads (67 kB: cheap to send)."""
    size, padding = DESCRIPTOR_CHIP
    return np.asarray(dlib.get_face_chip(pixels, shape, size=size, padding=padding))


class DescriptorWorker:
    """Computes descriptors in one worker process, off this process's GIL.

    dlib's binding holds the GIL for the whole ResNet forward pass (~80-140 ms per
    face with ``dlib-bin``): every other thread of the process — another
    application's database writes, OCR bookkeeping, the flow's own code — stalls
    meanwhile. In a worker process the pass runs on the other core and this
    process's threads carry on; the chip goes there and 128 floats come back
    (measured: bench_pipeline, benchmarks/README.md, issue 12).

    Args:
        model_dir: folder with the dlib ``.dat`` files.

    Raises:
        EngineUnavailable: the worker could not load the model.
    """

    def __init__(self, model_dir: Path) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _, recognition_path = _model_paths(model_dir)
        # spawn, not fork: this process runs threads (Prefect, engines).
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(str(recognition_path), os.getpid()),
        )
        try:
            self._pool.submit(_worker_ready).result(timeout=120)
        except Exception as exc:
            self._pool.shutdown(cancel_futures=True)
            raise EngineUnavailable(f"face descriptor worker did not start: {exc}") from exc

    def compute(self, chip: np.ndarray) -> np.ndarray:
        """The chip's descriptor, computed in the worker."""
        vector: np.ndarray = self._pool.submit(_worker_descriptor, chip).result()
        return vector

    def close(self) -> None:
        """Stop the worker process."""
        self._pool.shutdown(wait=True, cancel_futures=True)


_WORKER_RECOGNIZER: Any = None


def _worker_init(recognition_path: str, parent_pid: int) -> None:
    global _WORKER_RECOGNIZER  # one network per worker process
    import dlib

    from kyc.lifeline import die_with_parent

    # A parent killed with SIGKILL cannot stop us: we stop ourselves.
    die_with_parent(parent_pid)

    _WORKER_RECOGNIZER = dlib.face_recognition_model_v1(recognition_path)


def _worker_ready() -> bool:
    return _WORKER_RECOGNIZER is not None


def _worker_descriptor(chip: np.ndarray) -> np.ndarray:
    return np.asarray(_WORKER_RECOGNIZER.compute_face_descriptor(chip, NUM_JITTERS), np.float64)


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
        detector: which search found the face (``hog``, ``hog-fallback``, ``cnn``:
            :class:`kyc.imaging.faces.FaceDetection`), None when none did.
    """

    descriptor: np.ndarray | None
    confidence: float | None = None
    face_count: int | None = None
    box: tuple[int, int, int, int] | None = None
    findings: tuple[Finding, ...] = ()
    timings_ms: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    sharpness: float | None = None
    pose: FacePose | None = None
    detector: str | None = None


#: Size of the aligned face chip the sharpness is measured on (the ResNet's own size).
CHIP_SIZE = 150


class DlibFaceMatcher:
    """FaceMatcher on dlib's HOG detector and ResNet descriptors (runs offline).

    Models load lazily on the first comparison and are cached for the process, so
    constructing a matcher is cheap. One instance may be used from many threads at
    once (see the module docstring for how). Face detection is shared with the
    liveness checks through :func:`kyc.imaging.faces.find_face`, and each image's
    embedding is memoised on its :class:`~kyc.imaging.picture.Picture`, so a selfie
    used by the matcher, the liveness challenge and the duplicate search is
    detected and embedded once.

    Args:
        upsample: HOG upsampling passes for the document when the quick passes find
            no face (``KYC_FACE_UPSAMPLE``, given by kyc.wiring).
        model_dir: folder with the dlib ``.dat`` files; default the
            ``face_recognition_models`` package's ``models`` folder.
        min_sharpness: blur gate (see :mod:`kyc.imaging.face_quality`); 0 turns it
            off (the calibration benchmark measures blur that way).
        descriptors: compute descriptors in this worker process
            (``KYC_FACE_DESCRIPTOR_PROCESS``, given by kyc.wiring); None: in this
            process, one at a time.

    Raises:
        EngineUnavailable: dlib, the model package or a model file is missing.
    """

    name = "local-dlib"

    def __init__(
        self,
        *,
        upsample: int = 1,
        model_dir: Path | None = None,
        min_sharpness: float = MIN_SHARPNESS,
        descriptors: DescriptorWorker | None = None,
    ) -> None:
        self._dlib = _import_dlib()
        self._descriptors = descriptors
        self._model_dir = (model_dir or model_directory()).resolve()
        _model_paths(self._model_dir)  # fail now, in wiring, rather than mid-flow
        if not 0 <= upsample <= 3:
            raise ValueError(f"upsample must be within 0..3, got {upsample}")
        self.upsample = upsample
        self.min_sharpness = min_sharpness
        self.version = f"dlib-{self._dlib.__version__}+resnet_v1"
        self._document_passes = document_passes(upsample)

    def _models(self) -> _Models:
        return _models_for(self._dlib, self._model_dir)

    def embed(self, image: bytes | Picture, *, role: Role = "selfie") -> FaceEmbedding:
        """Find the best face in one image and compute its descriptor.

        Computed once per picture and role (memoised on the Picture): the liveness
        challenge asks for the selfie's descriptor the matcher already computed.

        Args:
            image: image bytes (untrusted) or a shared Picture.
            role: ``selfie`` or ``document``; sets the detection passes and the
                wording and codes of findings.

        Returns:
            The embedding, or findings (never an exception for bad input):
            selfie unreadable -> SELFIE_UNREADABLE; document unreadable ->
            FACE_NOT_FOUND ("document image unreadable: ..."); no face ->
            FACE_NOT_FOUND; a face under MIN_FACE_PX, blurred or turned too far
            -> FACE_QUALITY_LOW (one finding listing every problem).
        """
        picture = Picture.of(image, name=role)
        key = ("dlib-embedding", str(self._model_dir), role, self.upsample, self.min_sharpness)
        return picture.memo(key, lambda: self._embed(picture, role))

    def _embed(self, picture: Picture, role: Role) -> FaceEmbedding:
        where = "in selfie" if role == "selfie" else "on document"
        timings: dict[str, float] = {}
        started = time.perf_counter()
        try:
            detection = find_face(picture, role, upsample=self.upsample)
        except ImageUnreadable as exc:
            if role == "selfie":
                finding = Finding(Reason.SELFIE_UNREADABLE, str(exc))
            else:
                finding = Finding(Reason.FACE_NOT_FOUND, f"document image unreadable: {exc}")
            return FaceEmbedding(None, findings=(finding,))
        timings["detect"] = _ms_since(started)
        if detection is None:
            finding = Finding(Reason.FACE_NOT_FOUND, f"no face {where}")
            return FaceEmbedding(
                None, face_count=0, findings=(finding,), timings_ms=MappingProxyType(timings)
            )
        if detection.count > 1:
            logger.debug("%d faces %s; using the best-scored one", detection.count, where)
        confidence = score_to_confidence(detection.score)
        box = detection.box()

        def rejected(detail: str, **measured: Any) -> FaceEmbedding:
            """A face found but stopped by a quality gate: FACE_QUALITY_LOW, no descriptor."""
            return FaceEmbedding(
                None,
                confidence=confidence,
                face_count=detection.count,
                box=box,
                findings=(Finding(Reason.FACE_QUALITY_LOW, f"face {where} {detail}"),),
                timings_ms=MappingProxyType(timings),
                detector=detection.detector,
                **measured,
            )

        if min(box[2], box[3]) < MIN_FACE_PX:
            return rejected(f"too small: {box[2]}x{box[3]} px (minimum {MIN_FACE_PX})")

        models = self._models()
        started = time.perf_counter()
        # Landmarks, quality and descriptor on the face at a normalised size (box
        # 150-300 px), whatever the upload's size: a 12 MP selfie and the same photo
        # at 800 px give the network the same chip (issue 14).
        crop = normalised_face(picture, detection)
        pixels, rect = crop.pixels, crop.rect
        timings["normalise"] = _ms_since(started)
        started = time.perf_counter()
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
        chip = descriptor_chip(self._dlib, pixels, shape)
        descriptor = (
            models.descriptor(chip)
            if self._descriptors is None
            else self._descriptors.compute(chip)
        )
        timings["embed"] = _ms_since(started)
        return FaceEmbedding(
            descriptor,
            confidence=confidence,
            face_count=detection.count,
            box=box,
            timings_ms=MappingProxyType(timings),
            sharpness=sharpness,
            pose=pose,
            detector=detection.detector,
        )

    def compare(self, selfie: bytes | Picture, document: bytes | Picture) -> FaceComparison:
        """Compare the selfie's face with the document's face.

        Both images are always analysed, so a result reports every problem at once.

        Args:
            selfie: selfie image (CompareFaces SourceImage), bytes or a shared Picture.
            document: document front or portrait crop (TargetImage), likewise.

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
