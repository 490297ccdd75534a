"""Orchestration of one application, shared by the batch and per-event flows.

Only control flow lives here: which task runs after which, and what happens when a
stage fails for good. Every failure ends in a visible state — a decision carrying a
reason (engine failures → MANUAL_REVIEW) or a dead letter — never a crashed batch.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from prefect import get_run_logger, task

from kyc.domain.application import ApplicationInvalid
from kyc.domain.landing import LandingBundle
from kyc.domain.records import DocumentScan, Finding, Reason, RegisterResult
from kyc.storage.base import ObjectNotFound
from tasks import pipeline as t
from tasks.notify import notify_after_decision


class _ThreadTimeoutNotice(logging.Filter):
    """Drop Prefect's per-run notice that thread timeouts act only after blocking calls.

    We know, and rely on it only as a backstop: the hard limits are set where the
    blocking happens (PostgreSQL statement/lock/connect timeouts in kyc.db.engine,
    botocore connect/read timeouts in kyc.storage.s3). The notice would otherwise be
    logged for every task run of every application.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeouts in worker threads" not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_ThreadTimeoutNotice())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one application in a run (JSON-ready via ``as_dict``)."""

    application_id: str
    status: str  # DECIDED | ALREADY_DECIDED | DEAD_LETTER | INCOMPLETE
    decision: str | None = None
    reasons: tuple[str, ...] = ()
    detail: str = ""
    scores: dict[str, Any] = field(default_factory=dict)
    #: wall-clock seconds this application took in this run (benchmarks, logs)
    elapsed_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "application_id": self.application_id,
            "status": self.status,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "detail": self.detail,
        }


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger(__name__)


def _already_decided(app_id: str, previous: Any) -> Outcome:
    return Outcome(
        app_id,
        "ALREADY_DECIDED",
        previous.decision,
        tuple(previous.reasons),
        detail=f"decision version {previous.version} stands",
    )


def run_application(
    landing: str,
    bundle: LandingBundle,
    *,
    inline: bool = False,
    checked: bool = False,
    reprocess_of: int | None = None,
    register: RegisterResult | None = None,
) -> Outcome:
    """Process one application: form → document → face → liveness → duplicates → gate → decision.

    Args:
        landing: landing URI (folder or s3://bucket/prefix).
        bundle: the application's objects.
        inline: run the stages in the calling thread (batch mode) instead of as
            task runs of their own; same functions, same retry policy.
        checked: the caller already found these objects undecided (the batch flow
            asks for the whole batch at once); a concurrent decision is still caught
            when recording.
        reprocess_of: reprocessing: decide again although these objects may have
            been decided, as a new version re-running ``reprocess_of``.
        register: the register's answer when the flow already has it (it waited
            for an asynchronous register run while suspended).

    Returns:
        The outcome; never raises for bad input or a failed engine.
    """

    def stage(task_obj: Any, *args: Any) -> Any:
        return t.call_inline(task_obj, *args) if inline else task_obj(*args)

    log = _logger()
    app_id = bundle.application_id
    # Reprocessing decides the same objects again on purpose (and says so in the audit log).
    previous = None if checked or reprocess_of is not None else stage(t.already_decided, bundle)
    if previous is not None:
        log.info("application %s: these objects were already decided; skipping", app_id)
        return _already_decided(app_id, previous)
    try:
        app = stage(t.load_form, landing, bundle)
    except ObjectNotFound as exc:
        t.dead_letter(landing, app_id, "load-form", "OBJECT_MISSING", f"object vanished: {exc}")
        return Outcome(app_id, "DEAD_LETTER", detail="OBJECT_MISSING")
    if isinstance(app, ApplicationInvalid):
        t.dead_letter(
            landing,
            app_id,
            "load-form",
            "APPLICATION_INVALID",
            str(app),
            {"problems": app.problems},
        )
        log.warning(
            "application %s: invalid application.json (%d problems)", app_id, len(app.problems)
        )
        return Outcome(app_id, "DEAD_LETTER", detail=f"APPLICATION_INVALID: {app}")

    refs = stage(t.register_application, landing, bundle, app)
    extra: list[Finding] = []
    # The register check and licence validation wait on remote services; they run
    # beside the document, face and gate stages (seed steps 2a/2b) and are joined
    # before the decision.
    checks = _start_checks(app, refs, inline=inline, known=register)
    try:
        scan = stage(t.scan_document, landing, bundle, app, refs)
    except Exception as exc:
        log.error(
            "application %s: document engine failed after retries: %s", app_id, type(exc).__name__
        )
        scan = DocumentScan(
            fields=MappingProxyType({}),
            findings=(
                Finding(Reason.ENGINE_ERROR, f"document reader failed: {type(exc).__name__}"),
            ),
        )
    # Batch mode queues the fields for the GX gate now and asks for the result just
    # before the decision: rows of other applications in flight join the same GX run
    # while this one matches faces (one run per row would cost ~50 ms of CPU each).
    ticket = _submit_quality(app, scan, log) if inline else None
    try:
        face = stage(t.match_face, landing, bundle, refs, scan)
    except Exception as exc:
        log.error(
            "application %s: face engine failed after retries: %s", app_id, type(exc).__name__
        )
        face = None
        extra.append(Finding(Reason.ENGINE_ERROR, f"face matcher failed: {type(exc).__name__}"))
    liveness: tuple[Any, ...] = ()
    try:
        liveness = stage(t.check_liveness, landing, bundle, app, refs)
    except Exception as exc:
        log.error("application %s: liveness check failed: %s", app_id, type(exc).__name__)
        extra.append(Finding(Reason.ENGINE_ERROR, f"liveness check failed: {type(exc).__name__}"))
    duplicates = None
    try:
        duplicates = stage(t.check_duplicates, app, refs, face, liveness)
    except Exception as exc:
        log.error("application %s: duplicate search failed: %s", app_id, type(exc).__name__)
        extra.append(
            Finding(Reason.ENGINE_ERROR, f"duplicate-identity search failed: {type(exc).__name__}")
        )
    try:
        quality = _quality_result(ticket, stage, app, scan, refs, log)
    except Exception as exc:
        log.error("application %s: data-quality gate failed: %s", app_id, type(exc).__name__)
        quality = None
    register, licence = _join_checks(checks, app_id, extra, log)
    try:
        result = stage(
            t.decide_application,
            app,
            refs,
            bundle,
            scan,
            face,
            quality,
            tuple(extra),
            liveness,
            duplicates,
            reprocess_of,
            register,
            licence,
        )
    except t.repo.AlreadyDecided as exc:
        log.info("application %s: decided meanwhile by another run; skipping", app_id)
        standing = stage(t.already_decided, bundle)
        if standing is not None:
            return _already_decided(app_id, standing)
        return Outcome(app_id, "ALREADY_DECIDED", detail=f"decision version {exc.version} stands")
    log.info("application %s: %s %s", app_id, result.decision.value, ",".join(result.reasons))
    # After the decision is committed; never raises (issue 6: notifications).
    notify_after_decision(app_id, bundle.fingerprint, inline=inline)
    return Outcome(
        app_id, "DECIDED", result.decision.value, tuple(result.reasons), scores=dict(result.scores)
    )


def _submit_quality(app: Any, scan: DocumentScan, log: Any) -> Any:
    """Queue the scan for the gate; None (validate later, with retries) if that fails."""
    try:
        return t.submit_data_quality(app, scan)
    except Exception as exc:
        log.warning("application %s: could not queue for the gate: %s", app.application_id, exc)
        return None


def _quality_result(ticket: Any, stage: Any, app: Any, scan: Any, refs: Any, log: Any) -> Any:
    """The gate's result from the queued ticket, or from the stage (with its retries)."""
    if ticket is not None:
        try:
            return ticket.result()
        except Exception as exc:
            # The shared GX run failed (e.g. the worker process died): this row is
            # validated again on its own, under the stage's retry policy.
            log.warning(
                "application %s: queued gate run failed (%s); validating again",
                app.application_id,
                type(exc).__name__,
            )
    return stage(t.check_data_quality, app, scan, refs)


class _Checks:
    """Register and licence checks under way for one application."""

    def __init__(self, register: Any, licence: Any, pool: ThreadPoolExecutor | None) -> None:
        self.register = register
        self.licence = licence
        self.pool = pool


def _start_checks(app: Any, refs: Any, *, inline: bool, known: RegisterResult | None) -> _Checks:
    if inline:
        # Batch mode: the stages run as plain calls; a thread gives the
        # register's network wait the same overlap without extra task runs.
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kyc-checks")
        return _Checks(
            pool.submit(t.call_inline, t.check_register, app, refs, known),
            pool.submit(t.call_inline, t.validate_licence, app, refs),
            pool,
        )
    return _Checks(
        t.check_register.submit(app, refs, known), t.validate_licence.submit(app, refs), None
    )


def _join_checks(checks: _Checks, app_id: str, extra: list[Finding], log: Any) -> tuple[Any, Any]:
    """Wait for both checks; a check that failed for good becomes a finding."""
    out: list[Any] = []
    for what, fut in (("register check", checks.register), ("licence validator", checks.licence)):
        try:
            out.append(
                fut.result() if isinstance(fut, Future) else fut.result(raise_on_failure=True)
            )
        except Exception as exc:
            log.error(
                "application %s: %s failed after retries: %s", app_id, what, type(exc).__name__
            )
            out.append(None)
            if what != "register check":  # a missing register check is REGISTER_NOT_CHECKED
                extra.append(Finding(Reason.ENGINE_ERROR, f"{what} failed: {type(exc).__name__}"))
    if checks.pool is not None:
        checks.pool.shutdown(wait=False)
    return out[0], out[1]


def process_application(
    landing: str,
    bundle: LandingBundle,
    *,
    inline: bool = False,
    checked: bool = False,
    register: RegisterResult | None = None,
) -> Outcome:
    """One application from start to outcome; an unexpected error becomes a dead letter.

    Any error that escapes the stages' own retries is recorded as a dead letter here,
    so one application can never crash the batch. The batch flow calls this on its
    own thread pool; the per-application flow calls it through
    :func:`process_application_task`.

    Args:
        landing: landing URI.
        bundle: the application's objects.
        inline: run the stages in the calling thread (the batch flow) rather than as
            task runs of their own.
        checked: the caller found these objects undecided (see run_application).
        register: the register's answer the flow already has (see run_application).

    Returns:
        The outcome, with ``elapsed_s`` set when the application ran.
    """
    started = time.perf_counter()
    try:
        outcome = run_application(
            landing, bundle, inline=inline, checked=checked, register=register
        )
        return replace(outcome, elapsed_s=time.perf_counter() - started)
    except Exception as exc:
        _logger().exception("application %s: processing failed", bundle.application_id)
        detail = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            t.dead_letter(
                landing, bundle.application_id, "process-application", "PROCESSING_FAILED", detail
            )
        except Exception:
            detail += " (dead letter not recorded: database unavailable)"
        return Outcome(bundle.application_id, "DEAD_LETTER", detail=detail)


#: One application as a task run: the per-application flow's unit (the batch flow
#: calls ``process_application`` directly on its own thread pool).
process_application_task = task(
    name="process-application",
    cache_policy=t.NO_CACHE,
    persist_result=False,
    # Backstop only: each stage has its own limits (DB statement timeout, S3 timeouts).
    timeout_seconds=4 * t.TASK_OPTIONS["timeout_seconds"],
)(process_application)
