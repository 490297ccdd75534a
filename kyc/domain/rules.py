"""Decision rules: every signal of an application → PASS / MANUAL_REVIEW / FAIL.

Pure and table-tested (tests/domain/test_rules.py). The rules never treat a missing
signal as a pass: a check that did not run is a reason code of its own.

Aggregation: any FAIL-severity finding → FAIL; else any REVIEW finding →
MANUAL_REVIEW; else PASS (WARNING findings stay on the record for the reviewer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from kyc.domain.application import Application, RegisterType
from kyc.domain.duplicates import duplicate_findings
from kyc.domain.liveness import liveness_findings
from kyc.domain.matching import (
    NameMatch,
    compare_names,
    normalise_document_number,
    parse_iso_date,
)
from kyc.domain.records import (
    SEVERITY,
    Decision,
    DecisionResult,
    DocumentScan,
    DuplicateCheck,
    FaceComparison,
    Finding,
    LicenceResult,
    LivenessResult,
    QualityResult,
    Reason,
    RegisterResult,
    Severity,
)
from kyc.domain.registers import RegisterApplicant, assess

if TYPE_CHECKING:
    from kyc.settings import Settings

#: Fields a document must yield before its holder can pass.
REQUIRED_FIELDS = ("FIRST_NAME", "LAST_NAME", "DATE_OF_BIRTH", "EXPIRATION_DATE", "DOCUMENT_NUMBER")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Decision thresholds (from Settings; see kyc.settings for their meaning)."""

    face_match: float = 80.0
    face_reject: float = 70.0
    min_field_confidence: float = 50.0
    name_match: float = 0.85
    liveness_policy: Literal["require", "record"] = "require"

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        """The thresholds the settings configure (``KYC_FACE_MATCH_THRESHOLD``, ...)."""
        return cls(
            face_match=settings.face_match_threshold,
            face_reject=settings.face_reject_threshold,
            min_field_confidence=settings.min_field_confidence,
            name_match=settings.name_match_threshold,
            liveness_policy=settings.liveness_policy,
        )


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything the pipeline learned about one application.

    ``face`` / ``quality`` are None when that stage could not run at all (e.g. the
    engine failed after its retries); ``extra_findings`` carries such failures.
    ``liveness`` holds one result per liveness method that ran (empty: no evidence,
    LIVENESS_NOT_ASSESSED). ``duplicates`` is None when the duplicate-identity search
    did not apply (no verified selfie).
    ``register`` is None when the applicant claims a registration but no check ran
    (REGISTER_NOT_CHECKED). ``licence`` is None when no licence validation ran
    (validation off, or not a licence it covers): no finding of its own.
    """

    application: Application
    scan: DocumentScan
    face: FaceComparison | None
    quality: QualityResult | None
    liveness: tuple[LivenessResult, ...] = ()
    register: RegisterResult | None = None
    licence: LicenceResult | None = None
    extra_findings: tuple[Finding, ...] = ()
    duplicates: DuplicateCheck | None = None


def _document_findings(
    app: Application, scan: DocumentScan, t: Thresholds, today: dt.date
) -> tuple[list[Finding], dict[str, float | None]]:
    out: list[Finding] = [f for f in scan.findings]
    scores: dict[str, float | None] = {}
    # The form's own expiry is checked even when the document is unreadable: an
    # applicant declaring an expired document cannot pass either way.
    doc_expiry = parse_iso_date(scan.value("EXPIRATION_DATE"))
    expiry = doc_expiry or app.document.expiry_date
    if expiry < today:
        src = "document" if doc_expiry else "form"
        out.append(Finding(Reason.DOCUMENT_EXPIRED, f"expired {expiry.isoformat()} ({src})"))
    if not scan.fields:
        # Nothing was read: DOCUMENT_UNREADABLE (from the reader) says why; the
        # comparisons below would only repeat it as missing fields.
        if scan.readable:
            out.append(Finding(Reason.DOCUMENT_UNREADABLE, "no fields read from the document"))
        return out, scores

    missing = [k for k in REQUIRED_FIELDS if scan.value(k) is None]
    if missing:
        out.append(Finding(Reason.DOCUMENT_FIELD_MISSING, "not read: " + ", ".join(missing)))
    confidences = [scan.fields[k].confidence for k in REQUIRED_FIELDS if k in scan.fields]
    scores["document_min_confidence"] = min(confidences) if confidences else None
    low = [
        k
        for k in REQUIRED_FIELDS
        if k in scan.fields and scan.fields[k].confidence < t.min_field_confidence
    ]
    if low:
        out.append(Finding(Reason.DOCUMENT_LOW_CONFIDENCE, "low confidence: " + ", ".join(low)))

    if scan.value("LAST_NAME") and scan.value("FIRST_NAME"):
        names = compare_names(
            form_first=app.first_name,
            form_middle=app.middle_name,
            form_last=app.last_name,
            doc_first=scan.value("FIRST_NAME"),
            doc_middle=scan.value("MIDDLE_NAME"),
            doc_last=scan.value("LAST_NAME"),
            threshold=t.name_match,
        )
        scores["name_similarity"] = round(names.score, 4)
        if names.outcome is NameMatch.MISMATCH:
            out.append(Finding(Reason.NAME_MISMATCH, names.detail))
        elif names.outcome is NameMatch.VARIANT:
            out.append(Finding(Reason.NAME_VARIANT, names.detail))

    dob = parse_iso_date(scan.value("DATE_OF_BIRTH"))
    if dob is not None and dob != app.date_of_birth:
        out.append(Finding(Reason.DOB_MISMATCH, "date of birth on form differs from document"))

    number = normalise_document_number(scan.value("DOCUMENT_NUMBER"))
    if number and number != normalise_document_number(app.document.number):
        out.append(Finding(Reason.DOCUMENT_NUMBER_MISMATCH, "document number differs from form"))

    if doc_expiry is not None and doc_expiry != app.document.expiry_date:
        out.append(Finding(Reason.EXPIRY_MISMATCH, "expiry date on form differs from document"))
    return out, scores


def document_findings(
    app: Application, scan: DocumentScan, thresholds: Thresholds, today: dt.date
) -> list[Finding]:
    """What the decision rules conclude from the document alone, against the form.

    The reader's findings, expiry, missing or low-confidence fields and the form
    comparisons (names, date of birth, document number, expiry): what :func:`decide`
    starts from. Used by benchmarks/bench_accuracy.py to measure document reading
    without the face engines.

    Args:
        app: the application (the form).
        scan: the document reader's result.
        thresholds: the decision thresholds.
        today: the date expiry is checked against.

    Returns:
        The findings, unrated (see :func:`decision_for`).
    """
    return _document_findings(app, scan, thresholds, today)[0]


def _face_findings(
    face: FaceComparison | None, t: Thresholds
) -> tuple[list[Finding], dict[str, float | None]]:
    if face is None:
        return [], {"face_similarity": None}
    scores = {"face_similarity": face.similarity, "face_distance": face.distance}
    out = list(face.findings)
    if face.similarity is None:
        if not out:  # a comparison without a score must still say why
            out.append(Finding(Reason.FACE_NOT_FOUND, "no similarity returned"))
    elif face.similarity < t.face_reject:
        out.append(
            Finding(Reason.FACE_MISMATCH, f"similarity {face.similarity:.1f} < {t.face_reject:g}")
        )
    elif face.similarity < t.face_match:
        out.append(
            Finding(
                Reason.FACE_INCONCLUSIVE, f"similarity {face.similarity:.1f} < {t.face_match:g}"
            )
        )
    return out, scores


def face_findings(face: FaceComparison, thresholds: Thresholds) -> list[Finding]:
    """What the decision rules conclude from one face comparison alone.

    Args:
        face: the comparison.
        thresholds: the decision thresholds.

    Returns:
        The engine's findings, or FACE_MISMATCH / FACE_INCONCLUSIVE from the
        similarity (none when the faces match). Used by ``kyc compare-faces``.
    """
    return _face_findings(face, thresholds)[0]


def _severity(finding: Finding, t: Thresholds) -> Severity:
    if finding.reason is Reason.LIVENESS_NOT_ASSESSED and t.liveness_policy == "record":
        return Severity.WARNING
    return SEVERITY[finding.reason]


def decision_for(findings: Sequence[Finding], thresholds: Thresholds) -> Decision:
    """The decision that a set of findings leads to (the rules' aggregation alone).

    Any FAIL-severity finding gives FAIL; else any REVIEW finding gives MANUAL_REVIEW;
    else PASS (WARNING findings do not weigh). Each finding is rated by the rules
    (``SEVERITY``, with LIVENESS_NOT_ASSESSED a warning under the ``record`` liveness
    policy), whatever its own ``severity`` says. :func:`decide` ends with it; ``kyc
    register-check`` uses it so that the command never weighs findings itself.

    Args:
        findings: the findings, in any order (duplicates weigh once, as in ``decide``).
        thresholds: the decision thresholds (their liveness policy rates findings).

    Returns:
        PASS, MANUAL_REVIEW or FAIL.
    """
    severities = {_severity(f, thresholds) for f in findings}
    if Severity.FAIL in severities:
        return Decision.FAIL
    if Severity.REVIEW in severities:
        return Decision.MANUAL_REVIEW
    return Decision.PASS


def decide(
    signals: Signals, *, thresholds: Thresholds, today: dt.date, now: dt.datetime
) -> DecisionResult:
    """Aggregate all signals of one application into a decision.

    Args:
        signals: the outputs of every stage.
        thresholds: decision thresholds from settings.
        today: the date used for expiry checks (the caller's clock, for testability).
        now: timestamp recorded as ``decided_at``.

    Returns:
        The decision, its findings (each with its severity) and the scores.
    """
    app = signals.application
    findings, scores = _document_findings(app, signals.scan, thresholds, today)
    face_findings, face_scores = _face_findings(signals.face, thresholds)
    findings += face_findings
    scores |= face_scores

    if signals.quality is not None:
        scores["data_quality_success"] = 1.0 if signals.quality.success else 0.0
        if not signals.quality.success:
            findings.append(
                Finding(
                    Reason.DATA_QUALITY_FAILED,
                    "failed: " + ", ".join(signals.quality.failed_expectations),
                )
            )
    else:
        findings.append(Finding(Reason.DATA_QUALITY_FAILED, "data-quality gate did not run"))

    live_findings, live_scores = liveness_findings(
        signals.liveness, policy=thresholds.liveness_policy
    )
    findings += live_findings
    scores |= live_scores
    findings += duplicate_findings(signals.duplicates)

    if app.registration.type is not RegisterType.NONE:
        findings += assess(
            RegisterApplicant(
                register=app.registration.type.value,
                number=app.registration.number,
                first_name=app.first_name,
                middle_name=app.middle_name,
                last_name=app.last_name,
            ),
            signals.register,
        )
    if signals.licence is not None:
        findings += signals.licence.findings
    findings += signals.extra_findings

    # De-duplicate (same code + detail) and attach severities; order: severest first.
    seen: set[tuple[Reason, str]] = set()
    rated: list[Finding] = []
    for f in findings:
        if (f.reason, f.detail) not in seen:
            seen.add((f.reason, f.detail))
            rated.append(replace(f, severity=_severity(f, thresholds)))
    order = {Severity.FAIL: 0, Severity.REVIEW: 1, Severity.WARNING: 2}
    rated.sort(key=lambda f: (order[f.severity or Severity.REVIEW], f.reason.value))

    return DecisionResult(
        decision=decision_for(rated, thresholds),
        findings=tuple(rated),
        scores=MappingProxyType(scores),
        decided_at=now,
        duplicate_of=signals.duplicates.duplicates if signals.duplicates is not None else (),
    )


def engine_labels(
    versions: Mapping[str, str],
    *,
    liveness_policy: str,
    liveness: tuple[LivenessResult, ...],
    duplicates: DuplicateCheck | None,
) -> dict[str, str]:
    """What a decision records about how it was made: engines, policy, methods.

    Args:
        versions: engine name to ``name/version`` (the runtime's engines).
        liveness_policy: ``require`` or ``record``.
        liveness: the liveness results the decision used.
        duplicates: the duplicate-identity search, None when it did not apply.

    Returns:
        The ``engines`` JSON of the decision row.
    """
    if duplicates is None:
        duplicate_search = "not-applicable"
    else:
        duplicate_search = duplicates.method if duplicates.ran else "not-run"
    return dict(versions) | {
        "liveness_policy": liveness_policy,
        "liveness_methods": ",".join(r.method for r in liveness) or "none",
        "duplicate_search": duplicate_search,
    }
