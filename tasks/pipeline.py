"""Prefect tasks: thin wrappers that read, call kyc/, and write. No business logic.

Every task has retries (for transient failures: database, object store), a
timeout, and no result caching: inputs are image bytes and per-application state,
so hashing them for cache keys would cost time and buy nothing.
Deterministic bad input (an invalid form, an unreadable image) is never retried:
engines return findings for it and ``ApplicationInvalid`` is excluded from retries.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from kyc import runtime
from kyc.db import repository as repo
from kyc.domain.application import Application, ApplicationInvalid, parse_application
from kyc.domain.landing import IncompleteApplication, LandingBundle, group_landing
from kyc.domain.records import (
    DecisionResult,
    DocumentScan,
    DuplicateCheck,
    FaceComparison,
    Finding,
    LicenceClaim,
    LicenceResult,
    LivenessEvidence,
    LivenessResult,
    QualityResult,
    RegisterResult,
)
from kyc.domain.rules import Signals, Thresholds, decide
from kyc.quality.gate import GateTicket
from kyc.settings import get_settings
from kyc.wiring import build_engines

_S = get_settings()


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


TASK_OPTIONS: dict[str, Any] = {
    "retries": _S.task_retries,
    "retry_delay_seconds": [1, 5, 15][: max(_S.task_retries, 1)],
    "retry_condition_fn": _retry_unless_bad_input,
    "timeout_seconds": _S.task_timeout_seconds,
    "cache_policy": NO_CACHE,
    "persist_result": False,
}


def call_inline(stage: Any, *args: Any) -> Any:
    """Run a stage task's function in the calling thread, with the same retry policy.

    The batch flow uses this: no task run per stage (nor per application). Each task
    run costs Prefect's API server ~35-60 ms of CPU (measured by
    ``make bench --breakdown``), which next to ~0.5 s of engine work per application
    on a 2-core machine is throughput lost. The per-application flow still runs every
    stage as its own task run, for visibility in the UI.
    """
    delays = list(TASK_OPTIONS["retry_delay_seconds"])
    for attempt in range(int(TASK_OPTIONS["retries"]) + 1):
        try:
            return stage.fn(*args)
        except NOT_RETRIED:
            raise
        except Exception:
            if attempt >= int(TASK_OPTIONS["retries"]):
                raise
            time.sleep(delays[min(attempt, len(delays) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a landing prefix holds right now."""

    complete: list[LandingBundle]
    incomplete: list[IncompleteApplication]


class DatabaseUnavailable(RuntimeError):
    """The pipeline's database cannot be reached: nothing can be decided or recorded."""


@task(name="check-database", **TASK_OPTIONS)
def check_database() -> str:
    """Connect (starting the embedded server if configured) and migrate; fail clearly.

    Run once before a batch, so that a dead database stops the run with one clear
    error instead of every application waiting out its retries.

    Returns:
        The server version string.
    """
    import sqlalchemy as sa

    try:
        with runtime.database().connect() as conn:
            return str(conn.execute(sa.text("show server_version")).scalar_one())
    except Exception as exc:
        raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc


@task(name="discover-applications", **TASK_OPTIONS)
def discover_applications(landing: str, application_id: str | None = None) -> Discovery:
    """List the landing prefix (or one application's folder) and group its objects."""
    prefix = f"incoming/{application_id}/" if application_id else "incoming/"
    complete, incomplete = group_landing(runtime.store(landing).list(prefix))
    return Discovery(complete, incomplete)


@task(name="already-decided", **TASK_OPTIONS)
def already_decided(bundle: LandingBundle) -> repo.DecisionRow | None:
    """The decision already made on these exact objects, if any (idempotency)."""
    with repo_session() as s:
        rows = repo.list_decisions(
            s, application_id=bundle.application_id, input_fingerprint=bundle.fingerprint
        )
    return rows[0] if rows else None


@task(name="decided-applications", **TASK_OPTIONS)
def decided_applications(bundles: list[LandingBundle]) -> dict[str, repo.DecisionRow]:
    """Which of these bundles were decided on exactly these objects (one query per batch).

    The batch flow uses this instead of :func:`already_decided` per application; a
    run that decides the same objects concurrently is still caught when the decision
    is recorded (:class:`kyc.db.repository.AlreadyDecided`).
    """
    with repo_session() as s:
        return repo.decided_inputs(s, keys=[(b.application_id, b.fingerprint) for b in bundles])


@task(name="load-form", **TASK_OPTIONS)
def load_form(landing: str, bundle: LandingBundle) -> Application | ApplicationInvalid:
    """Read and validate application.json.

    An invalid form is returned, not raised: it is an expected outcome that the
    flow turns into a dead letter, not a task failure to retry or alert on.
    """
    raw = runtime.store(landing).get(bundle.form.key)
    try:
        return parse_application(raw, expected_id=bundle.application_id)
    except ApplicationInvalid as exc:
        return exc


@task(name="register-application", **TASK_OPTIONS)
def register_application(
    landing: str, bundle: LandingBundle, app: Application
) -> repo.ApplicationRefs:
    """Create/refresh the user, application, id_document (NEW) and selfie rows."""
    with repo_session() as s:
        return repo.register_application(
            s,
            application=app,
            landing_uri=runtime.store(landing).uri,
            input_fingerprint=bundle.fingerprint,
            front_key=bundle.front.key,
            front_etag=bundle.front.etag,
            back_key=bundle.back.key if bundle.back else None,
            back_etag=bundle.back.etag if bundle.back else None,
            selfie_key=bundle.selfie.key,
            selfie_etag=bundle.selfie.etag,
        )


@task(name="scan-document", **TASK_OPTIONS)
def scan_document(
    landing: str, bundle: LandingBundle, app: Application, refs: repo.ApplicationRefs
) -> DocumentScan:
    """Read the identity document and record the scan (id_document → OCR_DONE)."""
    store = runtime.store(landing)
    front = store.get(bundle.front.key)
    back = store.get(bundle.back.key) if bundle.back else None
    scan = build_engines(get_settings()).document_reader.read(
        front, back=back, document_type=app.document.type
    )
    with repo_session() as s:
        repo.record_doc_scan(s, id_document_id=refs.id_document_id, scan=scan)
        _advance(s, refs, "OCR_DONE")
    return scan


@task(name="match-face", **TASK_OPTIONS)
def match_face(
    landing: str,
    bundle: LandingBundle,
    refs: repo.ApplicationRefs,
    scan: DocumentScan | None = None,
) -> FaceComparison:
    """Compare the selfie with the document face and record it (→ FACE_DONE).

    The document's portrait crop (``scan.portrait``) is compared when the reader
    made one; when no face is found in the crop, the whole front is tried.
    """
    settings = get_settings()
    store = runtime.store(landing)
    matcher = build_engines(settings).face_matcher
    selfie = store.get(bundle.selfie.key)
    result = None
    if scan is not None and scan.portrait is not None:
        result = matcher.compare(selfie, scan.portrait)
    if result is None or result.similarity is None:
        result = matcher.compare(selfie, store.get(bundle.front.key))
    matched = (
        None if result.similarity is None else result.similarity >= settings.face_match_threshold
    )
    with repo_session() as s:
        repo.record_face_check(
            s,
            application_id=refs.application_id,
            selfie_id=refs.selfie_id,
            id_document_id=refs.id_document_id,
            result=result,
            matched=matched,
        )
        _advance(s, refs, "FACE_DONE")
    return result


@task(name="check-liveness", **TASK_OPTIONS)
def check_liveness(
    landing: str, bundle: LandingBundle, app: Application, refs: repo.ApplicationRefs
) -> tuple[LivenessResult, ...]:
    """Run every configured liveness method and record one row per method."""
    store = runtime.store(landing)
    evidence = LivenessEvidence(
        selfie=store.get(bundle.selfie.key),
        document=store.get(bundle.front.key),
        frames=tuple(store.get(f.key) for f in bundle.frames),
        session_id=app.liveness_session_id,
    )
    results = tuple(c.check(evidence) for c in build_engines(get_settings()).liveness_checkers)
    from kyc.db import biometrics

    with repo_session() as s:
        biometrics.record_liveness_checks(s, application_id=refs.application_id, results=results)
    return results


@task(name="check-duplicates", **TASK_OPTIONS)
def check_duplicates(
    app: Application,
    refs: repo.ApplicationRefs,
    face: FaceComparison | None,
    liveness: tuple[LivenessResult, ...] = (),
) -> DuplicateCheck | None:
    """Search earlier users' verified faces for this selfie, then enrol it.

    Only a selfie verified against its document is searched (None otherwise: the
    face findings already explain the decision), and it is enrolled only when no
    liveness method failed (a replayed photo must not become someone's face). A
    face engine without embeddings (Rekognition) gives a check that did not run,
    visibly.
    """
    settings = get_settings()
    if face is None or face.similarity is None or face.similarity < settings.face_match_threshold:
        return None
    if face.source_embedding is None:
        return DuplicateCheck(
            ran=False, reason=f"face engine {face.engine or 'unknown'} gives no face embedding"
        )
    from kyc.db import biometrics
    from kyc.domain.duplicates import Candidate, Identity, classify
    from kyc.engines.face_local import similarity_to_distance

    with repo_session() as s:
        biometrics.lock_face_enrolment(s)
        rows, method = biometrics.find_similar_faces(
            s,
            embedding=face.source_embedding,
            engine=face.engine,
            user_id=refs.user_id,
            max_distance=similarity_to_distance(settings.face_match_threshold),
        )
        if not any(r.passed is False for r in liveness):
            biometrics.enrol_face(
                s,
                application_id=refs.application_id,
                user_id=refs.user_id,
                selfie_id=refs.selfie_id,
                engine=face.engine,
                embedding=face.source_embedding,
            )
    return classify(
        Identity(app.first_name, app.last_name, app.date_of_birth, app.middle_name),
        [
            Candidate(
                user_id=str(r.user_id),
                application_id=r.application_id,
                distance=r.distance,
                identity=Identity(r.first_name, r.last_name, r.date_of_birth, r.middle_name),
            )
            for r in rows
        ],
        name_threshold=settings.name_match_threshold,
        method=method,
    )


@task(name="check-register", **TASK_OPTIONS)
def check_register(
    app: Application, refs: repo.ApplicationRefs, known: RegisterResult | None = None
) -> RegisterResult | None:
    """Check the claimed professional registration (cache, then the register) and record it.

    Args:
        app: the application.
        refs: its database ids.
        known: the answer already obtained by the flow (an Apify run it waited for
            while suspended); recorded as is, without another look-up.

    Returns:
        The register's answer; None when the applicant claims no registration.
    """
    reg = app.registration
    if reg.type.value == "NONE":
        return None
    result = known or build_engines(get_settings()).register_checker.check(
        reg.type.value, reg.number
    )
    with repo_session() as s:
        repo.record_reg_check(
            s,
            application_id=refs.application_id,
            user_id=refs.user_id,
            reg_type=reg.type.value,
            reg_number=result.number or reg.number,
            status=result.outcome.value,
            detail=result.as_dict(),
        )
    return result


@task(name="validate-licence", **TASK_OPTIONS)
def validate_licence(app: Application, refs: repo.ApplicationRefs) -> LicenceResult | None:
    """Validate a driving licence with the configured validator and record it.

    Returns:
        The result; None when validation is off or the document is not a licence.
    """
    validator = build_engines(get_settings()).licence_validator
    doc = app.document
    if validator is None or doc.type.value != "driving_licence":
        return None
    claim = LicenceClaim(
        country=doc.issuing_country,
        region=doc.issuing_region,
        number=doc.number,
        date_of_birth=app.date_of_birth,
        first_name=app.first_name,
        middle_name=app.middle_name,
        last_name=app.last_name,
        expiry_date=doc.expiry_date,
    )
    result = validator.validate(claim, today=dt.date.today())
    from kyc.db import register_repository as rrepo

    with repo_session() as s:
        rrepo.record_licence_check(s, application_id=refs.application_id, result=result)
    return result


def submit_data_quality(app: Application, scan: DocumentScan) -> GateTicket:
    """Queue the parsed fields for the Great Expectations gate; validate on ``result()``.

    The batch flow submits right after the document scan and asks for the result just
    before the decision, so that rows of applications in flight meanwhile share one
    GX run (see :meth:`kyc.quality.gate.QualityGate.submit`). A ticket whose
    ``result()`` fails is retried through :func:`check_data_quality`.
    """
    gate = build_engines(get_settings()).quality_gate
    return gate.submit(scan, document_type=app.document.type, today=dt.date.today())


@task(name="data-quality-gate", **TASK_OPTIONS)
def check_data_quality(
    app: Application, scan: DocumentScan, refs: repo.ApplicationRefs
) -> QualityResult:
    """Validate the parsed fields with the Great Expectations suite.

    The result is recorded by :func:`decide_application`, in the decision's own
    transaction (one database round trip less per application; a gate result
    without a decision helps nobody).
    """
    return submit_data_quality(app, scan).result()


@task(name="decide", **TASK_OPTIONS)
def decide_application(
    app: Application,
    refs: repo.ApplicationRefs,
    bundle: LandingBundle,
    scan: DocumentScan,
    face: FaceComparison | None,
    quality: QualityResult | None,
    extra_findings: tuple[Finding, ...] = (),
    liveness: tuple[LivenessResult, ...] = (),
    duplicates: DuplicateCheck | None = None,
    reprocess_of: int | None = None,
    register: RegisterResult | None = None,
    licence: LicenceResult | None = None,
) -> DecisionResult:
    """Apply the decision rules; record the gate result and the decision with its trail.

    ``reprocess_of`` (reprocessing only) records a new version on objects that may
    have been decided already; see :func:`kyc.db.repository.record_decision`.
    """
    settings = get_settings()
    thresholds = Thresholds(
        face_match=settings.face_match_threshold,
        face_reject=settings.face_reject_threshold,
        min_field_confidence=settings.min_field_confidence,
        name_match=settings.name_match_threshold,
        liveness_policy=settings.liveness_policy,
    )
    now = dt.datetime.now(dt.UTC)
    result = decide(
        Signals(
            application=app,
            scan=scan,
            face=face,
            quality=quality,
            extra_findings=extra_findings,
            liveness=liveness,
            duplicates=duplicates,
            register=register,
            licence=licence,
        ),
        thresholds=thresholds,
        today=now.date(),
        now=now,
    )
    engines = build_engines(settings).versions() | {
        "liveness_policy": settings.liveness_policy,
        "liveness_methods": ",".join(r.method for r in liveness) or "none",
        "duplicate_search": (
            "not-applicable"
            if duplicates is None
            else duplicates.method
            if duplicates.ran
            else "not-run"
        ),
    }
    with repo_session() as s:
        if quality is not None:
            repo.record_quality(s, application_id=refs.application_id, result=quality)
            _advance(s, refs, "QUALITY_DONE")
        # check_register records its own row; when it could not run (or there is
        # nothing to check) record that, so the trail shows nothing was skipped silently.
        reg = app.registration
        if register is None:
            repo.record_reg_check(
                s,
                application_id=refs.application_id,
                user_id=refs.user_id,
                reg_type=reg.type.value,
                reg_number=reg.number,
                status="NOT_REQUIRED" if reg.type.value == "NONE" else "NOT_RUN",
            )
        repo.record_decision(
            s,
            application_id=refs.application_id,
            user_id=refs.user_id,
            result=result,
            engines=engines,
            input_fingerprint=bundle.fingerprint,
            reprocess_of=reprocess_of,
        )
    return result


@task(name="stored-application", **TASK_OPTIONS)
def stored_application(application_id: str) -> repo.StoredApplication | None:
    """Where an application was landed and its latest decision version (reprocessing)."""
    with repo_session() as s:
        return repo.stored_application(s, application_id=application_id)


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
    with repo_session() as s:
        return repo.record_dead_letter(
            s,
            application_id=application_id,
            landing_uri=runtime.store(landing).uri,
            stage=stage,
            error_code=error_code,
            detail=detail,
            payload=payload,
        )


def _advance(session: Any, refs: repo.ApplicationRefs, status: str) -> None:
    """Move the application's id_document to the next status (audited)."""
    repo.set_document_status(
        session,
        id_document_id=refs.id_document_id,
        status=status,
        application_id=refs.application_id,
    )


def repo_session() -> Any:
    """A transactional session on the configured database."""
    from kyc.db.engine import session_scope

    return session_scope(runtime.database())


__all__ = [
    "Discovery",
    "already_decided",
    "check_data_quality",
    "check_duplicates",
    "check_liveness",
    "check_register",
    "dead_letter",
    "decide_application",
    "decided_applications",
    "discover_applications",
    "load_form",
    "match_face",
    "register_application",
    "scan_document",
    "stored_application",
    "validate_licence",
]
