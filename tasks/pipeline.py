"""Prefect tasks of the pipeline: thin wrappers around :mod:`kyc.services`. No logic here.

Each task names a stage, gives it retries (for transient failures: database, object
store, a remote engine), a timeout and no result caching (inputs are images and
per-application state: hashing them for cache keys would cost time and buy nothing),
and calls the service with the process runtime. Deterministic bad input is never
retried: engines return findings for it and ``ApplicationInvalid`` is not retried.
The batch flow runs the same functions inline (``flows.runner.InlineRunner``).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from kyc import runtime
from kyc.db import repository as repo
from kyc.domain.application import Application, ApplicationInvalid
from kyc.domain.landing import LandingBundle
from kyc.domain.records import (
    DecisionResult,
    DocumentScan,
    DuplicateCheck,
    FaceComparison,
    LicenceResult,
    LivenessResult,
    QualityResult,
    RegisterResult,
)
from kyc.domain.rules import Signals
from kyc.services import decide, duplicates, faces, intake, licences, liveness, quality, registers
from kyc.services import scan as scans
from kyc.services.case import ApplicationImages, Case
from kyc.services.intake import DatabaseUnavailable, Discovery
from kyc.settings import get_settings

#: Bad input fails the same way every time: never retried.
BAD_INPUT: tuple[type[Exception], ...] = (ApplicationInvalid, ValueError)
#: Never retried either: a retry cannot change these outcomes.
NOT_RETRIED: tuple[type[Exception], ...] = (*BAD_INPUT, repo.AlreadyDecided)


def _retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry transient failures only (Prefect's retry condition for every stage task)."""
    try:
        state.result()
    except NOT_RETRIED:
        return False
    except Exception:
        return True
    return True


# Task options are fixed when the module is imported (Prefect needs them at
# decoration); KYC_TASK_RETRIES / KYC_TASK_TIMEOUT_SECONDS are read then.
_S = get_settings()
TASK_OPTIONS: dict[str, Any] = {
    "retries": _S.task_retries,
    "retry_delay_seconds": [1, 5, 15][: max(_S.task_retries, 1)],
    "retry_condition_fn": _retry_unless_bad_input,
    "timeout_seconds": _S.task_timeout_seconds,
    "cache_policy": NO_CACHE,
    "persist_result": False,
}


@task(name="check-database", **TASK_OPTIONS)
def check_database() -> str:
    """Connect and migrate once before a batch (see :func:`kyc.services.intake.check_database`)."""
    return intake.check_database(runtime.current())


@task(name="discover-applications", **TASK_OPTIONS)
def discover_applications(
    landing: str, application_id: str | None = None, wait: bool = False
) -> Discovery:
    """List the landing prefix (or one application's folder) and group its objects."""
    return intake.discover(runtime.current(), landing, application_id, wait=wait)


@task(name="already-decided", **TASK_OPTIONS)
def already_decided(bundle: LandingBundle) -> repo.DecisionRow | None:
    """The decision already made on these exact objects, if any (idempotency)."""
    return intake.already_decided(runtime.current(), bundle)


@task(name="decided-applications", **TASK_OPTIONS)
def decided_applications(bundles: list[LandingBundle]) -> dict[str, repo.DecisionRow]:
    """Which of these bundles were decided on exactly these objects (one query per batch)."""
    return intake.decided_applications(runtime.current(), bundles)


@task(name="load-form", **TASK_OPTIONS)
def load_form(landing: str, bundle: LandingBundle) -> Application | ApplicationInvalid:
    """Read and validate application.json (an invalid form is returned, not raised)."""
    return intake.load_form(runtime.current(), landing, bundle)


@task(name="fetch-images", **TASK_OPTIONS)
def fetch_images(landing: str, bundle: LandingBundle) -> ApplicationImages:
    """Read the application's images once, before any stage decides on them."""
    return intake.fetch_images(runtime.current(), landing, bundle)


@task(name="register-application", **TASK_OPTIONS)
def register_application(
    landing: str, bundle: LandingBundle, app: Application
) -> repo.ApplicationRefs:
    """Create/refresh the user, application, id_document (NEW) and selfie rows."""
    return intake.register_application(runtime.current(), landing, bundle, app)


@task(name="scan-document", **TASK_OPTIONS)
def scan_document(case: Case) -> DocumentScan:
    """Read the identity document and record the scan (id_document → OCR_DONE)."""
    return scans.scan_document(runtime.current(), case)


@task(name="match-face", **TASK_OPTIONS)
def match_face(case: Case, scan: DocumentScan | None = None) -> FaceComparison:
    """Compare the selfie with the document face and record it (→ FACE_DONE)."""
    return faces.match_face(runtime.current(), case, scan)


@task(name="check-liveness", **TASK_OPTIONS)
def check_liveness(case: Case, scan: DocumentScan | None = None) -> tuple[LivenessResult, ...]:
    """Run every configured liveness method and record one row per method."""
    return liveness.check_liveness(runtime.current(), case, scan)


@task(name="check-duplicates", **TASK_OPTIONS)
def check_duplicates(
    case: Case, face: FaceComparison | None, found: tuple[LivenessResult, ...] = ()
) -> DuplicateCheck | None:
    """Search earlier users' verified faces for this selfie, then enrol it."""
    return duplicates.check_duplicates(runtime.current(), case, face, found)


@task(name="check-register", **TASK_OPTIONS)
def check_register(case: Case, known: RegisterResult | None = None) -> RegisterResult | None:
    """Check the claimed professional registration (cache, then the register) and record it."""
    return registers.check_register(runtime.current(), case, known)


@task(name="validate-licence", **TASK_OPTIONS)
def validate_licence(case: Case) -> LicenceResult | None:
    """Validate a driving licence with the configured validator and record it."""
    return licences.validate_licence(runtime.current(), case)


@task(name="data-quality-gate", **TASK_OPTIONS)
def check_data_quality(case: Case, scan: DocumentScan) -> QualityResult:
    """Validate the parsed fields with the Great Expectations suite."""
    return quality.check_quality(runtime.current(), case.application, scan)


@task(name="decide", **TASK_OPTIONS)
def decide_application(
    case: Case, signals: Signals, reprocess_of: int | None = None
) -> DecisionResult:
    """Apply the decision rules; record the gate result and the decision with its trail."""
    return decide.decide_application(runtime.current(), case, signals, reprocess_of=reprocess_of)


@task(name="stored-application", **TASK_OPTIONS)
def stored_application(application_id: str) -> repo.StoredApplication | None:
    """Where an application was landed and its latest decision version (reprocessing)."""
    return intake.stored_application(runtime.current(), application_id)


@task(name="dead-letter", **TASK_OPTIONS)
def dead_letter(
    landing: str,
    application_id: str | None,
    stage: str,
    error_code: str,
    detail: str,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record an application that could not be processed (visible, re-processable)."""
    return intake.dead_letter(
        runtime.current(), landing, application_id, stage, error_code, detail, payload
    )


__all__ = [
    "BAD_INPUT",
    "NOT_RETRIED",
    "TASK_OPTIONS",
    "DatabaseUnavailable",
    "Discovery",
    "already_decided",
    "check_data_quality",
    "check_database",
    "check_duplicates",
    "check_liveness",
    "check_register",
    "dead_letter",
    "decide_application",
    "decided_applications",
    "discover_applications",
    "fetch_images",
    "load_form",
    "match_face",
    "register_application",
    "scan_document",
    "stored_application",
    "validate_licence",
]
