"""DocumentReader on Amazon Textract AnalyzeID (``KYC_DOCUMENT_ENGINE=textract``).

The front and, when given, the back of the document go to AnalyzeID in one call as
two ``DocumentPages``. Each returned ``IdentityDocumentFields`` entry becomes a
:class:`~kyc.domain.records.DocumentField` under its ``Type.Text`` key:
``ValueDetection.Text`` is the text, ``ValueDetection.NormalizedValue`` (dates) gives
the ISO value, ``ValueDetection.Confidence`` the confidence. ``MRZ_CODE`` is kept as
read. Requires the IAM permission ``textract:AnalyzeID``.

An image over AnalyzeID's 10 MB limit is first reduced to a JPEG that fits. Input
AnalyzeID rejects (``InvalidParameterException``, ``UnsupportedDocumentException``,
``BadDocumentException``, ``DocumentTooLargeException``) is a ``DOCUMENT_UNREADABLE``
finding; throttling and outages raise :class:`~kyc.clients.aws.AwsEngineError` after
botocore's bounded retries (see :mod:`kyc.clients.aws`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kyc.clients import aws
from kyc.domain.application import DocumentType
from kyc.domain.records import DocumentField, DocumentScan, Finding, Reason
from kyc.imaging.picture import Picture
from kyc.settings import Settings

logger = logging.getLogger(__name__)

#: AnalyzeID error codes that mean "this input cannot be read", not "try later".
UNREADABLE_CODES = frozenset(
    {
        "InvalidParameterException",
        "UnsupportedDocumentException",
        "BadDocumentException",
        "DocumentTooLargeException",
    }
)
#: Formats AnalyzeID accepts as bytes, and its synchronous size limit.
FORMATS = frozenset({"JPEG", "PNG", "TIFF"})
MAX_BYTES = 10_000_000


def _iso_date(normalized: Mapping[str, Any] | None) -> str | None:
    """ISO date from AnalyzeID's NormalizedValue (``2026-01-20T00:00:00``), if valid."""
    if not normalized or str(normalized.get("ValueType", "")).upper() != "DATE":
        return None
    raw = str(normalized.get("Value", ""))[:10]
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        return None


def fields_from_analyze_id(response: Mapping[str, Any]) -> dict[str, DocumentField]:
    """Map an AnalyzeID response to AnalyzeID-keyed fields (pure; no I/O).

    AnalyzeID lists every field type for every page, with empty text when the page
    does not show it; empty fields are dropped. When front and back both carry a key,
    the more confident reading wins.

    Args:
        response: the parsed ``AnalyzeID`` response.

    Returns:
        Key (``Type.Text``) to field, source ``textract``. Dates carry their ISO
        value only when Textract normalised them; otherwise the value is empty, so a
        date Textract could not normalise counts as not read.
    """
    out: dict[str, DocumentField] = {}
    for document in response.get("IdentityDocuments") or []:
        for item in document.get("IdentityDocumentFields") or []:
            key = str((item.get("Type") or {}).get("Text") or "").strip()
            detection = item.get("ValueDetection") or {}
            text = str(detection.get("Text") or "").strip()
            if not key or not text:
                continue
            confidence = min(100.0, max(0.0, float(detection.get("Confidence") or 0.0)))
            normalized = detection.get("NormalizedValue")
            # A field Textract normalised (dates) is only usable through that value.
            value = text if normalized is None else (_iso_date(normalized) or "")
            field = DocumentField(text=text, value=value, confidence=confidence, source="textract")
            if key not in out or field.confidence > out[key].confidence:
                out[key] = field
    return out


class TextractDocumentReader:
    """AnalyzeID through boto3; see the module docstring for the mapping."""

    name = "textract"

    def __init__(self, client: Any) -> None:
        """Wrap a boto3 Textract client (use :meth:`from_settings` normally)."""
        self._client = client
        self.version = f"analyzeid/botocore-{aws.botocore_version()}"

    @classmethod
    def from_settings(cls, settings: Settings, *, session: Any = None) -> TextractDocumentReader:
        """Build the reader from settings (region, endpoint, retries, timeouts).

        Raises:
            EngineUnavailable: no region or no AWS credentials.
        """
        return cls(
            aws.make_client(
                "textract", settings, endpoint_url=settings.textract_endpoint_url, session=session
            )
        )

    def close(self) -> None:
        """Release the client's connection pool."""
        self._client.close()

    def _scan(
        self,
        fields: Mapping[str, DocumentField],
        findings: list[Finding],
        timings: dict[str, float],
    ) -> DocumentScan:
        return DocumentScan(
            fields=MappingProxyType(dict(fields)),
            findings=tuple(findings),
            engine=self.name,
            engine_version=self.version,
            timings_ms=MappingProxyType(timings),
        )

    def read(
        self,
        front: bytes | Picture,
        *,
        back: bytes | Picture | None = None,
        document_type: DocumentType | None = None,
    ) -> DocumentScan:
        """Read one document with AnalyzeID (front and optional back in one call).

        Args:
            front: image bytes of the front.
            back: image bytes of the back, when supplied.
            document_type: unused: AnalyzeID classifies the document itself (ID_TYPE).

        Returns:
            The scan; input AnalyzeID cannot read is a DOCUMENT_UNREADABLE finding.

        Raises:
            AwsEngineError: throttled, 5xx or unreachable after botocore's retries.
            EngineUnavailable: credentials or IAM permission missing.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        findings: list[Finding] = []
        # AnalyzeID takes the file's bytes: nothing here needs the decoded image.
        front = aws.fit_image(Picture.of(front).data, max_bytes=MAX_BYTES)
        problem = aws.image_problem(front, formats=FORMATS, max_bytes=MAX_BYTES)
        if problem is not None:
            findings.append(Finding(Reason.DOCUMENT_UNREADABLE, f"front: {problem}"))
            timings["total"] = _ms_since(started)
            return self._scan({}, findings, timings)
        pages = [{"Bytes": front}]
        if back is not None:
            back = aws.fit_image(Picture.of(back).data, max_bytes=MAX_BYTES)
            problem = aws.image_problem(back, formats=FORMATS, max_bytes=MAX_BYTES)
            if problem is None:
                pages.append({"Bytes": back})
            else:
                # The front alone is still worth reading; the finding keeps the gap visible.
                findings.append(Finding(Reason.DOCUMENT_UNREADABLE, f"back: {problem}"))
        timings["precheck"] = _ms_since(started)

        call_started = time.perf_counter()
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.analyze_id(DocumentPages=pages)
        except ClientError as exc:
            code, message = aws.error_code(exc)
            if code not in UNREADABLE_CODES:
                aws.raise_for_service_error("textract", exc)
            findings.append(Finding(Reason.DOCUMENT_UNREADABLE, f"Textract {code}: {message}"))
            timings["analyze_id"] = _ms_since(call_started)
            timings["total"] = _ms_since(started)
            return self._scan({}, findings, timings)
        except BotoCoreError as exc:
            aws.raise_for_service_error("textract", exc)
        timings["analyze_id"] = _ms_since(call_started)

        fields = fields_from_analyze_id(response)
        if not fields:
            findings.append(
                Finding(Reason.DOCUMENT_UNREADABLE, "Textract found no identity document fields")
            )
        logger.debug(
            "AnalyzeID model %s: %d pages, %d fields",
            response.get("AnalyzeIDModelVersion"),
            (response.get("DocumentMetadata") or {}).get("Pages"),
            len(fields),
        )
        timings["total"] = _ms_since(started)
        return self._scan(fields, findings, timings)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 2)
