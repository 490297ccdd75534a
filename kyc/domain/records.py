"""Typed records passed between pipeline stages (no I/O, no Prefect).

Engine outputs follow the AWS shapes so that local and cloud backends fit the same
record: document fields use Textract AnalyzeID keys, face comparison uses the
CompareFaces similarity scale (0-100).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kyc.imaging.picture import Picture


class Decision(StrEnum):
    """Outcome of an application (``kyc_decision_enum`` in the database)."""

    PASS = "PASS"
    MANUAL_REVIEW = "MANUAL_REVIEW"
    FAIL = "FAIL"


class Severity(StrEnum):
    """How much a reason weighs in the decision."""

    FAIL = "FAIL"
    REVIEW = "REVIEW"
    WARNING = "WARNING"


class Reason(StrEnum):
    """Stable reason codes. Never rename one: reviewers and reports depend on them."""

    # identity data
    NAME_MISMATCH = "NAME_MISMATCH"
    NAME_VARIANT = "NAME_VARIANT"
    DOB_MISMATCH = "DOB_MISMATCH"
    DOCUMENT_NUMBER_MISMATCH = "DOCUMENT_NUMBER_MISMATCH"
    EXPIRY_MISMATCH = "EXPIRY_MISMATCH"
    DOCUMENT_EXPIRED = "DOCUMENT_EXPIRED"
    DOCUMENT_UNREADABLE = "DOCUMENT_UNREADABLE"
    DOCUMENT_FIELD_MISSING = "DOCUMENT_FIELD_MISSING"
    DOCUMENT_LOW_CONFIDENCE = "DOCUMENT_LOW_CONFIDENCE"
    DOCUMENT_INCONSISTENT = "DOCUMENT_INCONSISTENT"
    DATA_QUALITY_FAILED = "DATA_QUALITY_FAILED"
    # face
    FACE_MISMATCH = "FACE_MISMATCH"
    FACE_INCONCLUSIVE = "FACE_INCONCLUSIVE"
    FACE_NOT_FOUND = "FACE_NOT_FOUND"
    FACE_QUALITY_LOW = "FACE_QUALITY_LOW"
    SELFIE_UNREADABLE = "SELFIE_UNREADABLE"
    LIVENESS_FAILED = "LIVENESS_FAILED"
    LIVENESS_NOT_ASSESSED = "LIVENESS_NOT_ASSESSED"
    #: The replay check's heuristics suspect a replayed selfie (the document portrait
    #: photographed, a print or a screen) without strong evidence: a reviewer looks.
    SELFIE_REPLAY_SUSPECTED = "SELFIE_REPLAY_SUSPECTED"
    # registers
    REGISTER_NOT_CHECKED = "REGISTER_NOT_CHECKED"
    REGISTER_NOT_FOUND = "REGISTER_NOT_FOUND"
    REGISTER_NOT_ACTIVE = "REGISTER_NOT_ACTIVE"
    REGISTER_CONDITIONS = "REGISTER_CONDITIONS"
    REGISTER_UNAVAILABLE = "REGISTER_UNAVAILABLE"
    REGISTER_NUMBER_INVALID = "REGISTER_NUMBER_INVALID"
    REGISTER_NAME_MISMATCH = "REGISTER_NAME_MISMATCH"
    # third-party driver's licence validation
    LICENCE_NOT_VERIFIED = "LICENCE_NOT_VERIFIED"
    LICENCE_DATA_MISMATCH = "LICENCE_DATA_MISMATCH"
    DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
    #: The duplicate-identity search could not run (e.g. the face engine gives no
    #: embedding): kept visible on the decision instead of a silent pass.
    DUPLICATE_NOT_CHECKED = "DUPLICATE_NOT_CHECKED"
    # processing
    ENGINE_ERROR = "ENGINE_ERROR"
    # Review versions (source "review"): what reviewers made of a case (issue 13).
    REVIEW_APPROVED = "REVIEW_APPROVED"
    REVIEW_REJECTED = "REVIEW_REJECTED"
    RESUBMISSION_REQUESTED = "RESUBMISSION_REQUESTED"
    ESCALATED = "ESCALATED"


#: What each reason does to the decision. A reason missing here is a programming error.
SEVERITY: MappingProxyType[Reason, Severity] = MappingProxyType(
    {
        Reason.NAME_MISMATCH: Severity.REVIEW,
        Reason.NAME_VARIANT: Severity.WARNING,
        Reason.DOB_MISMATCH: Severity.REVIEW,
        Reason.DOCUMENT_NUMBER_MISMATCH: Severity.REVIEW,
        Reason.EXPIRY_MISMATCH: Severity.REVIEW,
        Reason.DOCUMENT_EXPIRED: Severity.FAIL,
        Reason.DOCUMENT_UNREADABLE: Severity.REVIEW,
        Reason.DOCUMENT_FIELD_MISSING: Severity.REVIEW,
        Reason.DOCUMENT_LOW_CONFIDENCE: Severity.REVIEW,
        Reason.DOCUMENT_INCONSISTENT: Severity.REVIEW,
        Reason.DATA_QUALITY_FAILED: Severity.REVIEW,
        Reason.FACE_MISMATCH: Severity.FAIL,
        Reason.FACE_INCONCLUSIVE: Severity.REVIEW,
        Reason.FACE_NOT_FOUND: Severity.REVIEW,
        Reason.FACE_QUALITY_LOW: Severity.REVIEW,
        Reason.SELFIE_UNREADABLE: Severity.REVIEW,
        Reason.LIVENESS_FAILED: Severity.FAIL,
        # Softened to WARNING by the liveness policy ``record``.
        Reason.LIVENESS_NOT_ASSESSED: Severity.REVIEW,
        # A heuristic alone never fails an applicant (issue 14): not softened by the
        # ``record`` policy either, it is a suspicion, not missing evidence.
        Reason.SELFIE_REPLAY_SUSPECTED: Severity.REVIEW,
        Reason.REGISTER_NOT_CHECKED: Severity.REVIEW,
        Reason.REGISTER_NOT_FOUND: Severity.REVIEW,
        Reason.REGISTER_NOT_ACTIVE: Severity.FAIL,
        Reason.REGISTER_CONDITIONS: Severity.REVIEW,
        Reason.REGISTER_UNAVAILABLE: Severity.REVIEW,
        # A malformed number is decided at once, without calling any register: the
        # applicant must correct it, which a reviewer arranges.
        Reason.REGISTER_NUMBER_INVALID: Severity.REVIEW,
        Reason.REGISTER_NAME_MISMATCH: Severity.REVIEW,
        Reason.LICENCE_NOT_VERIFIED: Severity.REVIEW,
        Reason.LICENCE_DATA_MISMATCH: Severity.REVIEW,
        Reason.DUPLICATE_IDENTITY: Severity.REVIEW,
        Reason.DUPLICATE_NOT_CHECKED: Severity.WARNING,
        Reason.ENGINE_ERROR: Severity.REVIEW,
        # Never produced by the rules: a review version carries the outcome itself.
        Reason.REVIEW_APPROVED: Severity.WARNING,
        Reason.REVIEW_REJECTED: Severity.FAIL,
        Reason.RESUBMISSION_REQUESTED: Severity.REVIEW,
        Reason.ESCALATED: Severity.REVIEW,
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason with a human-readable detail (no raw PII in ``detail``)."""

    reason: Reason
    detail: str = ""
    #: Set by the decision rules; engines leave it None.
    severity: Severity | None = None

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        out = {"code": self.reason.value, "detail": self.detail}
        if self.severity is not None:
            out["severity"] = self.severity.value
        return out


@dataclass(frozen=True, slots=True)
class DocumentField:
    """One AnalyzeID-style field: raw text, normalised value, confidence 0-100."""

    text: str
    value: str
    confidence: float
    source: str = "ocr"  # ocr | barcode | mrz | textract

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "text": self.text,
            "value": self.value,
            "confidence": round(self.confidence, 2),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class DocumentScan:
    """What a DocumentReader read from one identity document.

    Attributes:
        fields: AnalyzeID keys (FIRST_NAME, LAST_NAME, DATE_OF_BIRTH, ...) to fields.
            Dates are normalised to ISO ``YYYY-MM-DD`` in ``value``.
        findings: problems met while reading (e.g. DOCUMENT_UNREADABLE with detail).
        engine: engine name, e.g. ``local-pdf417+tesseract`` or ``textract``.
        engine_version: version string of the engine (library versions).
        timings_ms: stage name to milliseconds.
        portrait: the face photo cropped from the document (JPEG bytes) for the face
            matcher, None when the reader found none or does not crop. Not in
            :meth:`as_dict` (image bytes are PII); its box is.
        portrait_box: (left, top, right, bottom) of the crop in the flattened
            document image.
        face_image: the image the portrait is on (the flattened document) with its
            face detection, for the face matcher and the replay check to reuse
            (one detection per image); None when the reader made none. Not in
            :meth:`as_dict`.
    """

    fields: MappingProxyType[str, DocumentField]
    findings: tuple[Finding, ...] = ()
    engine: str = ""
    engine_version: str = ""
    timings_ms: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    portrait: bytes | None = field(default=None, repr=False)
    portrait_box: tuple[int, int, int, int] | None = None
    face_image: Picture | None = field(default=None, repr=False, compare=False)

    def value(self, key: str) -> str | None:
        """Normalised value of a field, or None when it was not read."""
        f = self.fields.get(key)
        return f.value if f is not None and f.value else None

    @property
    def readable(self) -> bool:
        """False when the reader could not read the document at all."""
        return not any(f.reason is Reason.DOCUMENT_UNREADABLE for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        """AnalyzeID-shaped JSON-ready form."""
        return {
            "fields": {k: v.as_dict() for k, v in sorted(self.fields.items())},
            "findings": [f.as_dict() for f in self.findings],
            "engine": self.engine,
            "engine_version": self.engine_version,
            "timings_ms": dict(self.timings_ms),
            "portrait_box": list(self.portrait_box) if self.portrait_box else None,
        }


@dataclass(frozen=True, slots=True)
class FaceComparison:
    """Selfie vs document face, on Rekognition CompareFaces' scale.

    Attributes:
        similarity: 0-100, None when no comparison was possible.
        distance: the engine's raw distance (dlib: Euclidean in embedding space).
        source_confidence: face-detection confidence 0-100 in the selfie.
        target_confidence: face-detection confidence 0-100 in the document.
        findings: FACE_NOT_FOUND, SELFIE_UNREADABLE, ... when no comparison was made.
        source_face_count: faces detected in the selfie (the best-scored one is used);
            None when the engine does not say.
        target_face_count: faces detected in the document, likewise.
    """

    similarity: float | None
    distance: float | None = None
    source_confidence: float | None = None
    target_confidence: float | None = None
    #: Face boxes as CompareFaces gives them: ratios of the image (Left, Top, Width,
    #: Height), None when the engine does not say.
    source_bounding_box: tuple[float, float, float, float] | None = None
    target_bounding_box: tuple[float, float, float, float] | None = None
    findings: tuple[Finding, ...] = ()
    engine: str = ""
    engine_version: str = ""
    timings_ms: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    source_face_count: int | None = None
    target_face_count: int | None = None
    #: The selfie's face embedding (dlib: 128 floats), kept for the duplicate-identity
    #: search; None when the engine gives none (Rekognition) or no face was found.
    #: Biometric data: never logged, never part of ``as_dict``.
    source_embedding: tuple[float, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the embedding)."""
        return {
            "similarity": None if self.similarity is None else round(self.similarity, 2),
            "distance": None if self.distance is None else round(self.distance, 4),
            "source_confidence": self.source_confidence,
            "target_confidence": self.target_confidence,
            "source_face_count": self.source_face_count,
            "target_face_count": self.target_face_count,
            "source_bounding_box": _box(self.source_bounding_box),
            "target_bounding_box": _box(self.target_bounding_box),
            "findings": [f.as_dict() for f in self.findings],
            "engine": self.engine,
            "engine_version": self.engine_version,
            "timings_ms": dict(self.timings_ms),
        }


def _box(box: tuple[float, float, float, float] | None) -> dict[str, float] | None:
    """A bounding box in CompareFaces' JSON shape."""
    if box is None:
        return None
    return dict(zip(("Left", "Top", "Width", "Height"), (round(v, 4) for v in box), strict=True))


@dataclass(frozen=True, slots=True)
class LivenessEvidence:
    """What an application offers as evidence that a live person took the selfie.

    Images are bytes or shared :class:`~kyc.imaging.picture.Picture` objects (the
    pipeline passes the Pictures the other stages decoded, so nothing is decoded or
    detected twice).

    Attributes:
        selfie: the selfie image.
        document: the document's portrait crop when the reader made one, else its
            front (for the replay check: a selfie that is a copy of the document
            portrait is no evidence of a live person).
        frames: ``selfie_frames/<n>`` images in frame order (challenge: blink, turn).
        session_id: an AWS Face Liveness session id from ``application.json``.
    """

    selfie: bytes | Picture
    document: bytes | Picture | None = None
    frames: tuple[bytes | Picture, ...] = ()
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class LivenessResult:
    """Outcome of one liveness method on one application.

    Attributes:
        passed: True = a live person shown; False = evidence of a spoof or a failed
            challenge (LIVENESS_FAILED); None = not assessed (no usable evidence), or
            only a suspicion (SELFIE_REPLAY_SUSPECTED: the replay check's heuristics
            alone, which never fail an applicant).
        method: ``challenge`` | ``replay`` | ``aws-face-liveness``.
        confidence: 0-100 when the method gives one (AWS: the session's Confidence).
        findings: LIVENESS_FAILED / SELFIE_REPLAY_SUSPECTED / LIVENESS_NOT_ASSESSED
            with a detail saying why.
        engine: engine name; engine_version: its version.
        timings_ms: stage name to milliseconds.
        details: measurements behind the outcome (eye aspect ratios, yaw, scores,
            session status), JSON-ready and free of PII (no images, no names).
    """

    passed: bool | None
    method: str
    confidence: float | None = None
    findings: tuple[Finding, ...] = ()
    engine: str = ""
    engine_version: str = ""
    timings_ms: MappingProxyType[str, float] = field(default_factory=lambda: MappingProxyType({}))
    details: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "passed": self.passed,
            "method": self.method,
            "confidence": None if self.confidence is None else round(self.confidence, 3),
            "findings": [f.as_dict() for f in self.findings],
            "engine": self.engine,
            "engine_version": self.engine_version,
            "timings_ms": dict(self.timings_ms),
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class DuplicateMatch:
    """An earlier user whose verified face matches this applicant's selfie.

    Attributes:
        user_id: the other user's id (text form of the UUID).
        application_id: the application that enrolled that face.
        distance: embedding distance between the two faces.
        same_identity: True when that user has this applicant's name and date of
            birth (the same person applying again: no finding).
    """

    user_id: str
    application_id: str
    distance: float
    same_identity: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (ids and a distance: no PII)."""
        return {
            "user_id": self.user_id,
            "application_id": self.application_id,
            "distance": round(self.distance, 4),
            "same_identity": self.same_identity,
        }


@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    """Outcome of the duplicate-identity search for one application.

    Attributes:
        ran: False when the search could not run (``reason`` says why).
        matches: earlier users with a matching face, nearest first.
        reason: why the search did not run; empty when it ran.
        method: ``hnsw`` (pgvector index) or ``exact`` (scan without pgvector).
    """

    ran: bool
    matches: tuple[DuplicateMatch, ...] = ()
    reason: str = ""
    method: str = ""

    @property
    def duplicates(self) -> tuple[DuplicateMatch, ...]:
        """Matches under another name or date of birth (DUPLICATE_IDENTITY)."""
        return tuple(m for m in self.matches if not m.same_identity)


@dataclass(frozen=True, slots=True)
class QualityResult:
    """Outcome of the Great Expectations data-quality gate."""

    success: bool
    suite: str
    failed_expectations: tuple[str, ...] = ()
    evaluated: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "success": self.success,
            "suite": self.suite,
            "failed_expectations": list(self.failed_expectations),
            "evaluated": self.evaluated,
        }


@dataclass(frozen=True, slots=True)
class DecisionResult:
    """The decision on one application and everything that led to it."""

    decision: Decision
    findings: tuple[Finding, ...]
    scores: MappingProxyType[str, float | None]
    decided_at: dt.datetime
    #: Earlier users whose face matches under another identity (DUPLICATE_IDENTITY).
    duplicate_of: tuple[DuplicateMatch, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """Reason codes in a stable order, each once (for the table and the database).

        Two findings may share a code (two liveness methods failing, two earlier
        users matching); their details stay apart in ``findings``.
        """
        return list(dict.fromkeys(f.reason.value for f in self.findings))


class RegisterOutcome(StrEnum):
    """What a register look-up found (``reg_checks.status``)."""

    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    #: The register could not be asked (down after retries, rate-limited, bad page).
    UNAVAILABLE = "UNAVAILABLE"
    #: The number is malformed: no register was called.
    NUMBER_INVALID = "NUMBER_INVALID"


@dataclass(frozen=True, slots=True)
class RegisterResult:
    """One professional-register look-up, the same whichever client made it.

    Attributes:
        register: GMC | GDC | NMC | GPHC.
        number: the registration number looked up (normalised).
        outcome: found / not found / unavailable / number invalid.
        name: the name as the register shows it.
        status: the register's own wording of the registration status.
        conditions: conditions, warnings, undertakings or other annotations.
        snapshot_date: the date of the register data (extract date, or the day
            the live register was read).
        raw: the register's response as JSON-ready data (kept as evidence).
        source: the client that produced it (``snapshot``, ``http``, ``apify``),
            with ``+cache`` when it came from the register cache.
        detail: why the look-up did not complete (no PII).
    """

    register: str
    number: str
    outcome: RegisterOutcome
    name: str | None = None
    status: str | None = None
    conditions: tuple[str, ...] = ()
    snapshot_date: dt.date | None = None
    raw: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored as ``reg_checks.raw_response_json``)."""
        return {
            "register": self.register,
            "number": self.number,
            "outcome": self.outcome.value,
            "matched_name": self.name,
            "matched_status": self.status,
            "conditions": list(self.conditions),
            "snapshot_date": self.snapshot_date.isoformat() if self.snapshot_date else None,
            "raw": dict(self.raw),
            "source": self.source,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegisterResult:
        """Inverse of :meth:`as_dict` (used by the register cache)."""
        snap = data.get("snapshot_date")
        return cls(
            register=str(data["register"]),
            number=str(data["number"]),
            outcome=RegisterOutcome(data["outcome"]),
            name=data.get("matched_name"),
            status=data.get("matched_status"),
            conditions=tuple(data.get("conditions") or ()),
            snapshot_date=dt.date.fromisoformat(snap) if snap else None,
            raw=MappingProxyType(dict(data.get("raw") or {})),
            source=str(data.get("source") or ""),
            detail=str(data.get("detail") or ""),
        )


@dataclass(frozen=True, slots=True)
class LicenceClaim:
    """What is asked of a driver's licence validation service (DLDV-style)."""

    country: str  # ISO alpha-2 or alpha-3 as on the form (US / USA / CA / CAN)
    region: str | None  # state / province code
    number: str
    date_of_birth: dt.date
    first_name: str
    last_name: str
    expiry_date: dt.date
    middle_name: str | None = None


@dataclass(frozen=True, slots=True)
class LicenceResult:
    """A driver's licence validation.

    Attributes:
        verified: True when the issuer's record (or the local rules) confirm the
            licence; False when they do not; None when validation could not run.
        field_matches: field name (``number``, ``date_of_birth``, ``last_name``,
            ``first_name``, ``expiry_date``) to True / False / None (not checked).
        findings: LICENCE_NOT_VERIFIED / LICENCE_DATA_MISMATCH / DOCUMENT_EXPIRED ...
        engine: ``licence-local`` or ``licence-http``.
        raw: the service's response (evidence), JSON-ready.
    """

    verified: bool | None
    field_matches: MappingProxyType[str, bool | None] = field(
        default_factory=lambda: MappingProxyType({})
    )
    findings: tuple[Finding, ...] = ()
    engine: str = ""
    raw: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "verified": self.verified,
            "field_matches": dict(self.field_matches),
            "findings": [f.as_dict() for f in self.findings],
            "engine": self.engine,
            "raw": dict(self.raw),
        }


class OutcomeStatus(StrEnum):
    """What one run did with one application (``kyc ingest --json``'s ``status``)."""

    #: A decision was recorded in this run (see ``decision``).
    DECIDED = "DECIDED"
    #: These exact objects were decided before (idempotency): nothing recorded.
    ALREADY_DECIDED = "ALREADY_DECIDED"
    #: Could not be processed: recorded in ``dead_letters`` with the reason.
    DEAD_LETTER = "DEAD_LETTER"
    #: Not all required objects have landed yet (waits; reported after a timeout).
    INCOMPLETE = "INCOMPLETE"
    #: Reprocessing: no such application was ever registered.
    NOT_FOUND = "NOT_FOUND"
    #: Another worker holds this application's claim: it is being decided there
    #: (kyc/services/claims.py); a run that finds it so leaves it alone.
    IN_PROGRESS = "IN_PROGRESS"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one application in a run (JSON-ready via ``as_dict``)."""

    application_id: str
    status: OutcomeStatus
    decision: str | None = None
    reasons: tuple[str, ...] = ()
    detail: str = ""
    scores: Mapping[str, Any] = field(default_factory=dict)
    #: wall-clock seconds this application took in this run (benchmarks, logs)
    elapsed_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "application_id": self.application_id,
            "status": self.status.value,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "detail": self.detail,
        }
