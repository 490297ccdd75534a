"""FaceMatcher on Amazon Rekognition CompareFaces (``KYC_FACE_ENGINE=rekognition``).

SourceImage is the selfie, TargetImage the document (front or portrait crop).
``SimilarityThreshold`` is sent as 0 so that every detected document face comes back
in ``FaceMatches`` with its similarity: the decision rules apply our own thresholds
(``KYC_FACE_MATCH_THRESHOLD``), on the same 0-100 scale. Requires the IAM permission
``rekognition:CompareFaces``.

Mapping: the best ``FaceMatches[].Similarity`` is the similarity, its ``Face``
gives the document face box and confidence, ``SourceImageFace`` the selfie's, and
``FaceMatches`` + ``UnmatchedFaces`` the number of faces on the document. Rekognition
has no distance, so ``distance`` is None.

Errors: an image over 5 MB is first reduced to a JPEG that fits; images are then
checked locally (JPEG/PNG, 5 MB as bytes) so a bad selfie
is ``SELFIE_UNREADABLE`` and a bad document ``FACE_NOT_FOUND`` with the side named;
``InvalidParameterException`` (Rekognition's answer when it finds no face) is
``FACE_NOT_FOUND``; throttling and outages raise
:class:`~kyc.clients.aws.AwsEngineError` after botocore's bounded retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kyc.clients import aws
from kyc.domain.records import FaceComparison, Finding, Reason
from kyc.imaging.picture import Picture
from kyc.settings import Settings

logger = logging.getLogger(__name__)

#: CompareFaces accepts JPEG and PNG, up to 5 MB when passed as bytes.
FORMATS = frozenset({"JPEG", "PNG"})
MAX_BYTES = 5_000_000
#: Sent with every call: return every face's similarity; our thresholds decide.
SIMILARITY_THRESHOLD = 0.0
#: Rekognition rejected an image that passed our local checks: it does not say which.
IMAGE_REJECTED_CODES = frozenset({"InvalidImageFormatException", "ImageTooLargeException"})

Box = tuple[float, float, float, float]


def _box(face: Mapping[str, Any] | None) -> Box | None:
    box = (face or {}).get("BoundingBox")
    if not box:
        return None
    return (
        float(box.get("Left", 0.0)),
        float(box.get("Top", 0.0)),
        float(box.get("Width", 0.0)),
        float(box.get("Height", 0.0)),
    )


def _confidence(face: Mapping[str, Any] | None) -> float | None:
    value = (face or {}).get("Confidence")
    return None if value is None else min(100.0, max(0.0, float(value)))


def comparison_from_compare_faces(
    response: Mapping[str, Any], *, engine: str, engine_version: str
) -> FaceComparison:
    """Map a CompareFaces response to a FaceComparison (pure; no I/O).

    Args:
        response: the parsed ``CompareFaces`` response.
        engine: engine name to record.
        engine_version: engine version to record.

    Returns:
        The comparison; FACE_NOT_FOUND when the document shows no face at all.
    """
    source = response.get("SourceImageFace") or {}
    matches = sorted(
        response.get("FaceMatches") or [], key=lambda m: float(m.get("Similarity") or 0.0)
    )
    unmatched = response.get("UnmatchedFaces") or []
    common: dict[str, Any] = {
        "source_confidence": _confidence(source),
        "source_bounding_box": _box(source),
        # CompareFaces uses the largest selfie face and does not say how many there were.
        "source_face_count": None,
        "target_face_count": len(matches) + len(unmatched),
        "engine": engine,
        "engine_version": engine_version,
    }
    if matches:
        best = matches[-1]
        face = best.get("Face") or {}
        return FaceComparison(
            similarity=min(100.0, max(0.0, float(best.get("Similarity") or 0.0))),
            target_confidence=_confidence(face),
            target_bounding_box=_box(face),
            **common,
        )
    if unmatched:
        # Only faces below SimilarityThreshold are unmatched; we send 0, so this means
        # a similarity of (at most) 0. Kept as a score, not a finding: faces were found.
        face = max(unmatched, key=lambda f: float(f.get("Confidence") or 0.0))
        return FaceComparison(
            similarity=SIMILARITY_THRESHOLD,
            target_confidence=_confidence(face),
            target_bounding_box=_box(face),
            **common,
        )
    return FaceComparison(
        similarity=None,
        findings=(Finding(Reason.FACE_NOT_FOUND, "no face detected in the document image"),),
        **common,
    )


class RekognitionFaceMatcher:
    """CompareFaces through boto3; see the module docstring for the mapping."""

    name = "rekognition"

    def __init__(self, client: Any) -> None:
        """Wrap a boto3 Rekognition client (use :meth:`from_settings` normally)."""
        self._client = client
        self.version = f"comparefaces/botocore-{aws.botocore_version()}"

    @classmethod
    def from_settings(cls, settings: Settings, *, session: Any = None) -> RekognitionFaceMatcher:
        """Build the matcher from settings (region, endpoint, retries, timeouts).

        Raises:
            EngineUnavailable: no region or no AWS credentials.
        """
        return cls(
            aws.make_client(
                "rekognition",
                settings,
                endpoint_url=settings.rekognition_endpoint_url,
                session=session,
            )
        )

    def close(self) -> None:
        """Release the client's connection pool."""
        self._client.close()

    def _finding(self, reason: Reason, detail: str, started: float) -> FaceComparison:
        return FaceComparison(
            similarity=None,
            findings=(Finding(reason, detail),),
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType({"total": _ms_since(started)}),
        )

    def compare(self, selfie: bytes | Picture, document: bytes | Picture) -> FaceComparison:
        """Compare the selfie (SourceImage) with the document (TargetImage).

        Args:
            selfie: selfie image bytes.
            document: document front or portrait crop bytes.

        Returns:
            Similarity 0-100, or findings when no comparison was possible.

        Raises:
            AwsEngineError: throttled, 5xx or unreachable after botocore's retries.
            EngineUnavailable: credentials or IAM permission missing.
        """
        started = time.perf_counter()
        # CompareFaces takes the files' bytes: nothing here needs the decoded images.
        selfie_bytes = aws.fit_image(Picture.of(selfie).data, max_bytes=MAX_BYTES)
        document_bytes = aws.fit_image(Picture.of(document).data, max_bytes=MAX_BYTES)
        problem = aws.image_problem(selfie_bytes, formats=FORMATS, max_bytes=MAX_BYTES)
        if problem is not None:
            return self._finding(Reason.SELFIE_UNREADABLE, f"selfie: {problem}", started)
        problem = aws.image_problem(document_bytes, formats=FORMATS, max_bytes=MAX_BYTES)
        if problem is not None:
            return self._finding(
                Reason.FACE_NOT_FOUND, f"document image unreadable: {problem}", started
            )
        precheck_ms = _ms_since(started)

        from botocore.exceptions import BotoCoreError, ClientError

        call_started = time.perf_counter()
        try:
            response = self._client.compare_faces(
                SourceImage={"Bytes": selfie_bytes},
                TargetImage={"Bytes": document_bytes},
                SimilarityThreshold=SIMILARITY_THRESHOLD,
            )
        except ClientError as exc:
            code, message = aws.error_code(exc)
            if code == "InvalidParameterException":
                # Rekognition's documented answer when it detects no face; its message
                # does not say in which image.
                return self._finding(
                    Reason.FACE_NOT_FOUND,
                    f"no face detected in the selfie or the document (Rekognition {code}: "
                    f"{message})",
                    started,
                )
            if code in IMAGE_REJECTED_CODES:
                return self._finding(
                    Reason.ENGINE_ERROR,
                    f"Rekognition {code} for images that passed the local checks "
                    f"(it does not say which): {message}",
                    started,
                )
            aws.raise_for_service_error("rekognition", exc)
        except BotoCoreError as exc:
            aws.raise_for_service_error("rekognition", exc)
        call_ms = _ms_since(call_started)

        result = comparison_from_compare_faces(
            response, engine=self.name, engine_version=self.version
        )
        timings = {"precheck": precheck_ms, "compare_faces": call_ms, "total": _ms_since(started)}
        return _with_timings(result, timings)


def _with_timings(result: FaceComparison, timings: dict[str, float]) -> FaceComparison:
    from dataclasses import replace

    return replace(result, timings_ms=MappingProxyType(timings))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)
