"""AWS Rekognition Face Liveness: read a session's results (boto3, imported lazily).

The applicant's front end runs the Face Liveness check (Amplify's FaceLivenessDetector
or the mobile SDKs) and the application carries its session id
(``application.json``: ``{"liveness": {"session_id": "<uuid>"}}``). Here we only read
``GetFaceLivenessSessionResults``:

* ``SUCCEEDED`` with ``Confidence >= KYC_LIVENESS_CONFIDENCE_THRESHOLD`` → passed;
* ``SUCCEEDED`` below the threshold → LIVENESS_FAILED (AWS judged a spoof likely);
* ``FAILED`` → LIVENESS_FAILED (the session ran and did not show a live face);
* ``CREATED`` / ``IN_PROGRESS`` / ``EXPIRED``, no or malformed session id, or
  ``SessionNotFoundException`` → not assessed, with the status in the detail;
* when the session returns its reference image and a face matcher is given, the
  reference face must be the selfie's person (a live stranger proves nothing).

Throttling and server errors are retried by botocore (the project's client factory:
``KYC_AWS_MAX_ATTEMPTS``, ``KYC_AWS_RETRY_MODE``, ``KYC_AWS_TIMEOUT_SECONDS``); if
they persist the call raises, so the pipeline retries the stage and finally records
ENGINE_ERROR rather than a verdict.
"""

from __future__ import annotations

import logging
import re
import time
from types import MappingProxyType
from typing import Any

from kyc.clients import aws
from kyc.domain.records import Finding, LivenessEvidence, LivenessResult, Reason
from kyc.engines.base import FaceMatcher
from kyc.imaging.picture import Picture
from kyc.settings import Settings

logger = logging.getLogger(__name__)

#: Session ids are UUIDs (the API's pattern); anything else is not sent to AWS.
SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: Error codes that are the applicant's problem (a verdict), not the service's.
_NOT_ASSESSED_ERRORS = {"SessionNotFoundException", "InvalidParameterException"}


class RekognitionLivenessChecker:
    """LivenessChecker on AWS Rekognition Face Liveness session results.

    Args:
        client: a boto3 Rekognition client; use :meth:`from_settings`, which builds it
            with the project's client factory (:func:`kyc.clients.aws.make_client`:
            retries, timeouts, credentials check), like the other AWS adapters.
        confidence_threshold: Confidence (0-100) a SUCCEEDED session needs to pass.
        face_matcher: compares the session's reference image with the selfie.
        match_threshold: similarity (0-100) for that comparison.
    """

    name = "aws-rekognition-face-liveness"
    method = "aws-face-liveness"

    def __init__(
        self,
        client: Any,
        *,
        confidence_threshold: float = 80.0,
        face_matcher: FaceMatcher | None = None,
        match_threshold: float = 80.0,
    ) -> None:
        self._client = client
        self.confidence_threshold = confidence_threshold
        self.face_matcher = face_matcher
        self.match_threshold = match_threshold
        self.version = f"botocore-{aws.botocore_version()}"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, face_matcher: FaceMatcher | None, session: Any = None
    ) -> RekognitionLivenessChecker:
        """Build from settings: region, ``KYC_LIVENESS_ENDPOINT_URL``, thresholds.

        Raises:
            EngineUnavailable: boto3, a region or credentials are missing.
        """
        return cls(
            aws.make_client(
                "rekognition",
                settings,
                endpoint_url=settings.liveness_endpoint_url,
                session=session,
            ),
            confidence_threshold=settings.liveness_confidence_threshold,
            face_matcher=face_matcher,
            match_threshold=settings.face_match_threshold,
        )

    def check(self, evidence: LivenessEvidence) -> LivenessResult:
        """Read the session's results and judge them (see the module docstring)."""
        from botocore.exceptions import ClientError

        session = evidence.session_id
        if not session:
            return self._result(None, "no Face Liveness session id in application.json", {})
        if not SESSION_ID.match(session):
            return self._result(None, "Face Liveness session id is not a UUID", {})
        started = time.perf_counter()
        try:
            response = self._client.get_face_liveness_session_results(SessionId=session)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_ASSESSED_ERRORS:
                return self._result(
                    None, f"Face Liveness session not usable: {code}", {"error": code}
                )
            raise
        timings = {"get_results": round((time.perf_counter() - started) * 1000, 2)}
        status = str(response.get("Status", ""))
        confidence = response.get("Confidence")
        details: dict[str, Any] = {"session_id": session, "status": status}
        if confidence is not None:
            confidence = float(confidence)
            details["confidence"] = round(confidence, 3)
        details["confidence_threshold"] = self.confidence_threshold

        if status == "SUCCEEDED" and confidence is not None:
            if confidence < self.confidence_threshold:
                return self._result(
                    False,
                    f"Face Liveness confidence {confidence:.1f} < {self.confidence_threshold:g}",
                    details,
                    confidence,
                    timings,
                )
            mismatch = self._reference_mismatch(evidence.selfie, response, details)
            if mismatch:
                return self._result(False, mismatch, details, confidence, timings)
            return self._result(True, "", details, confidence, timings)
        if status == "FAILED":
            return self._result(False, "Face Liveness session FAILED", details, confidence, timings)
        return self._result(
            None,
            f"Face Liveness session {status or 'without status'}"
            + (" (no confidence returned)" if status == "SUCCEEDED" else ""),
            details,
            confidence,
            timings,
        )

    def _reference_mismatch(
        self, selfie: bytes | Picture, response: dict[str, Any], details: dict[str, Any]
    ) -> str:
        """A detail when the session's reference face is not the selfie's person."""
        reference = (response.get("ReferenceImage") or {}).get("Bytes")
        if self.face_matcher is None or not reference:
            details["reference_compared"] = False
            return ""
        comparison = self.face_matcher.compare(selfie, reference)
        details["reference_compared"] = True
        details["reference_similarity"] = comparison.similarity
        if comparison.similarity is None:
            return "Face Liveness reference image could not be compared with the selfie"
        if comparison.similarity < self.match_threshold:
            return (
                f"Face Liveness reference face is not the selfie's person "
                f"(similarity {comparison.similarity:.1f} < {self.match_threshold:g})"
            )
        return ""

    def _result(
        self,
        passed: bool | None,
        detail: str,
        details: dict[str, Any],
        confidence: float | None = None,
        timings: dict[str, float] | None = None,
    ) -> LivenessResult:
        findings: tuple[Finding, ...] = ()
        if passed is False:
            findings = (Finding(Reason.LIVENESS_FAILED, detail),)
        elif passed is None:
            findings = (Finding(Reason.LIVENESS_NOT_ASSESSED, detail),)
        return LivenessResult(
            passed=passed,
            method=self.method,
            confidence=confidence,
            findings=findings,
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType(timings or {}),
            details=MappingProxyType(details),
        )


__all__ = ["SESSION_ID", "RekognitionLivenessChecker"]
