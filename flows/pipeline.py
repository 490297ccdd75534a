"""Orchestration of one application, shared by the batch and per-event flows.

Only control flow lives here: which stage runs after which, and what happens when a
stage fails for good. The stages are kyc.services functions wrapped as Prefect
tasks (``tasks/``); a :class:`~flows.runner.Runner` chosen where the flow starts
runs them inline (batch) or as task runs (per-application flow). Every failure ends
in a visible state — a decision carrying a reason (engine failures →
MANUAL_REVIEW) or a dead letter — never a crashed batch.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from prefect import get_run_logger, task

from flows.runner import Pending, Runner, TaskRunner
from kyc import metrics, runtime, telemetry
from kyc.db.repository import AlreadyDecided, DecisionRow
from kyc.domain.application import ApplicationInvalid
from kyc.domain.landing import LandingBundle
from kyc.domain.records import (
    DocumentScan,
    Finding,
    Outcome,
    OutcomeStatus,
    QualityResult,
    Reason,
    RegisterResult,
)
from kyc.domain.rules import Signals
from kyc.services import intake
from kyc.services import quality as quality_service
from kyc.services.case import Case
from kyc.services.claims import owner_id
from kyc.services.intake import open_case
from kyc.storage.base import ObjectNotFound, StoreError
from tasks import notify as notify_tasks
from tasks import pipeline as t


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


def logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger inside a run, else this module's."""
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger(__name__)


def already_decided_outcome(app_id: str, previous: DecisionRow) -> Outcome:
    """The outcome of objects decided before (nothing recorded in this run)."""
    return Outcome(
        app_id,
        OutcomeStatus.ALREADY_DECIDED,
        previous.decision,
        tuple(previous.reasons),
        detail=f"decision version {previous.version} stands",
    )


def incomplete_outcome(application_id: str, missing: list[str], problems: list[str]) -> Outcome:
    """The outcome of an application whose objects are not all there."""
    detail = "; ".join([f"missing {m}" for m in missing] + problems)
    return Outcome(application_id, OutcomeStatus.INCOMPLETE, detail=detail)


def in_progress_outcome(application_id: str) -> Outcome:
    """The outcome of an application another worker holds the claim of."""
    return Outcome(
        application_id,
        OutcomeStatus.IN_PROGRESS,
        detail="being processed by another worker (it holds the claim)",
    )


def claim_owner() -> str:
    """``host:pid:flow-run id`` of the calling flow run (claims' owner)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx is not None else None
    return owner_id(run.id if run is not None else None)


def run_application(
    runner: Runner,
    landing: str,
    bundle: LandingBundle,
    *,
    checked: bool = False,
    claimed: bool = False,
    reprocess_of: int | None = None,
    register: RegisterResult | None = None,
) -> Outcome:
    """Process one application: form → document → face → liveness → duplicates → gate → decision.

    The application is claimed first (kyc/services/claims.py): a run that finds
    another live worker holding it leaves it alone (IN_PROGRESS), so two runs over
    one landing never both run the engines for it. The claim is released at the end.

    Args:
        runner: how the stages run (inline in the batch, as task runs otherwise).
        landing: landing URI (folder or s3://bucket/prefix).
        bundle: the application's objects.
        checked: the caller already found these objects undecided (the batch flow
            asks for the whole batch at once); they are looked up once more, without
            a task run, once the claim is ours (another run may have decided them
            meanwhile), and a concurrent decision is still caught when recording.
        claimed: the caller holds the claim and looked the objects up after
            claiming (a fan-out chunk claims its applications at once); it releases
            the claim too.
        reprocess_of: reprocessing: decide again although these objects may have
            been decided, as a new version re-running ``reprocess_of``.
        register: the register's answer when the flow already has it (it waited
            for an asynchronous register run while suspended).

    Returns:
        The outcome; never raises for bad input or a failed engine.
    """
    key = [(bundle.application_id, bundle.fingerprint)]
    owner = None
    if not claimed:
        owner = claim_owner()
        if not runtime.current().claims.claim(key, owner):
            logger().info("application %s: another worker holds it; skipping", key[0][0])
            return in_progress_outcome(bundle.application_id)
    try:
        if reprocess_of is None and not claimed:
            previous = (
                intake.already_decided(runtime.current(), bundle)
                if checked
                else runner.run(t.already_decided, bundle)
            )
            if previous is not None:
                logger().info(
                    "application %s: these objects were already decided; skipping", key[0][0]
                )
                return already_decided_outcome(bundle.application_id, previous)
        return _run_claimed(runner, landing, bundle, reprocess_of, register)
    finally:
        if owner is not None:
            runtime.current().claims.release(key, owner)


def _run_claimed(
    runner: Runner,
    landing: str,
    bundle: LandingBundle,
    reprocess_of: int | None,
    register: RegisterResult | None,
) -> Outcome:
    """The stages of one application whose claim this run holds (see run_application)."""
    log = logger()
    app_id = bundle.application_id
    try:
        app = runner.run(t.load_form, landing, bundle)
    except (ObjectNotFound, StoreError, OSError) as exc:
        return _unreadable(landing, app_id, "load-form", exc)
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
        return Outcome(app_id, OutcomeStatus.DEAD_LETTER, detail=f"APPLICATION_INVALID: {app}")

    # Every image is read before anything is registered or decided: a store failing
    # now leaves the application undecided (a dead letter the next sweep retries),
    # never a review case decided on evidence that was not read.
    try:
        images = runner.run(t.fetch_images, landing, bundle)
    except (ObjectNotFound, StoreError, OSError) as exc:
        return _unreadable(landing, app_id, "fetch-images", exc)
    refs = runner.run(t.register_application, landing, bundle, app)
    # Every stage gets the same case: its images were fetched once, decoded once.
    case = open_case(runtime.current(), landing, bundle, app, refs, images)
    extra: list[Finding] = []
    # The register check and licence validation wait on remote services; they run
    # beside the document, face and gate stages (seed steps 2a/2b) and are joined
    # before the decision.
    register_check = runner.submit(t.check_register, case, register)
    licence_check = runner.submit(t.validate_licence, case)

    def engine_error(what: str, exc: Exception) -> None:
        log.error("application %s: %s failed after retries: %s", app_id, what, type(exc).__name__)
        extra.append(Finding(Reason.ENGINE_ERROR, f"{what} failed: {type(exc).__name__}"))

    try:
        scan = runner.run(t.scan_document, case)
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
    # The batch queues the fields for the GX gate now and asks for the result just
    # before the decision: rows of other applications in flight join the same GX run
    # while this one matches faces (one run per row would cost ~50 ms of CPU each).
    ticket = _submit_quality(case, scan, log) if runner.batch else None
    face = None
    try:
        face = runner.run(t.match_face, case, scan)
    except Exception as exc:
        engine_error("face matcher", exc)
    liveness: tuple[Any, ...] = ()
    try:
        liveness = runner.run(t.check_liveness, case, scan)
    except Exception as exc:
        engine_error("liveness check", exc)
    duplicates = None
    try:
        duplicates = runner.run(t.check_duplicates, case, face, liveness)
    except Exception as exc:
        engine_error("duplicate-identity search", exc)
    quality: QualityResult | None = None
    try:
        quality = _quality_result(runner, ticket, case, scan, log)
    except Exception as exc:
        log.error("application %s: data-quality gate failed: %s", app_id, type(exc).__name__)
    register_result = _joined(register_check, "register check", app_id, log)
    licence = _joined(licence_check, "licence validator", app_id, log, on_failure=engine_error)
    signals = Signals(
        application=app,
        scan=scan,
        face=face,
        quality=quality,
        extra_findings=tuple(extra),
        liveness=liveness,
        duplicates=duplicates,
        register=register_result,
        licence=licence,
    )
    try:
        result = runner.run(t.decide_application, case, signals, reprocess_of)
    except AlreadyDecided as exc:
        log.info("application %s: decided meanwhile by another run; skipping", app_id)
        standing = runner.run(t.already_decided, bundle)
        if standing is not None:
            return already_decided_outcome(app_id, standing)
        return Outcome(
            app_id,
            OutcomeStatus.ALREADY_DECIDED,
            detail=f"decision version {exc.version} stands",
        )
    log.info("application %s: %s %s", app_id, result.decision.value, ",".join(result.reasons))
    # After the decision is committed; never raises (issue 6: notifications).
    notify_after_decision(runner, app_id, bundle.fingerprint)
    return Outcome(
        app_id,
        OutcomeStatus.DECIDED,
        result.decision.value,
        tuple(result.reasons),
        scores=dict(result.scores),
    )


def _unreadable(landing: str, app_id: str, stage: str, exc: Exception) -> Outcome:
    """Dead-letter an application whose objects cannot be read now (not a decision).

    A vanished object is OBJECT_MISSING; a store failing after the stage's retries
    (S3 5xx or timeouts, a local I/O error) is OBJECT_UNREADABLE. Neither records a
    decision, so the next sweep takes the application again; the dead letter makes
    the failure visible meanwhile (and is resolved when the application is decided).
    """
    if isinstance(exc, ObjectNotFound):
        code, detail = "OBJECT_MISSING", f"object vanished: {exc}"
    else:
        # Exception texts of the stores name keys (application ids), never content.
        code = "OBJECT_UNREADABLE"
        detail = f"could not be read, retried by the next sweep: {type(exc).__name__}: {exc}"
    detail = detail[:500]
    logger().warning("application %s: %s at %s", app_id, code, stage)
    t.dead_letter(landing, app_id, stage, code, detail)
    return Outcome(app_id, OutcomeStatus.DEAD_LETTER, detail=f"{code}: {detail}")


def notify_after_decision(runner: Runner, application_id: str, input_fingerprint: str) -> None:
    """Send the decision's outbox message after it was recorded.

    Never raises: the decision is already committed, and a notification problem
    (even a misconfiguration) must not turn it into a failed run or dead letter.
    It is logged here and, for delivery failures, in the delivery log.
    """
    try:
        # Always: the decision's outbox message is marked sent (or sent) now; with
        # nothing configured that is one short transaction.
        runner.run(notify_tasks.notify_decision, application_id, input_fingerprint)
    except Exception:
        logger().exception("application %s: notifications not sent", application_id)


def _submit_quality(case: Case, scan: DocumentScan, log: Any) -> Any:
    """Queue the scan for the gate; None (validate later, with retries) if that fails."""
    try:
        return quality_service.submit_quality(runtime.current(), case.application, scan)
    except Exception as exc:
        log.warning("application %s: could not queue for the gate: %s", case.application_id, exc)
        return None


def _quality_result(
    runner: Runner, ticket: Any, case: Case, scan: DocumentScan, log: Any
) -> QualityResult:
    """The gate's result from the queued ticket, or from the stage (with its retries)."""
    if ticket is not None:
        try:
            queued: QualityResult = ticket.result()
            return queued
        except Exception as exc:
            # The shared GX run failed (e.g. the worker process died): this row is
            # validated again on its own, under the stage's retry policy.
            log.warning(
                "application %s: queued gate run failed (%s); validating again",
                case.application_id,
                type(exc).__name__,
            )
    result: QualityResult = runner.run(t.check_data_quality, case, scan)
    return result


def _joined(
    pending: Pending[Any],
    what: str,
    app_id: str,
    log: Any,
    *,
    on_failure: Any = None,
) -> Any:
    """Wait for a check started beside the stages; a check that failed for good is None.

    A missing register check is REGISTER_NOT_CHECKED (the rules say so); a failed
    licence validator is an ENGINE_ERROR finding (``on_failure``).
    """
    try:
        return pending.result()
    except Exception as exc:
        if on_failure is not None:
            on_failure(what, exc)
        else:
            log.error(
                "application %s: %s failed after retries: %s", app_id, what, type(exc).__name__
            )
        return None


def process_application(
    runner: Runner,
    landing: str,
    bundle: LandingBundle,
    *,
    checked: bool = False,
    claimed: bool = False,
    register: RegisterResult | None = None,
) -> Outcome:
    """One application from start to outcome; an unexpected error becomes a dead letter.

    Any error that escapes the stages' own retries is recorded as a dead letter here,
    so one application can never crash the batch. The batch flow calls this on its
    own thread pool with an :class:`~flows.runner.InlineRunner`; the per-application
    flow calls it through :data:`process_application_task`.

    Args:
        runner: how the stages run.
        landing: landing URI.
        bundle: the application's objects.
        checked: the caller found these objects undecided (see run_application).
        claimed: the caller holds the application's claim (see run_application).
        register: the register's answer the flow already has (see run_application).

    Returns:
        The outcome, with ``elapsed_s`` set when the application ran.
    """
    started = time.perf_counter()
    # The batch gives each application a trace of its own (linked to the batch's run);
    # a per-application run is already one trace.
    with (
        metrics.application_timer() as clock,
        telemetry.application_span(bundle.application_id, new_trace=runner.batch),
    ):
        try:
            outcome = run_application(
                runner, landing, bundle, checked=checked, claimed=claimed, register=register
            )
            clock.status = outcome.status.value
            return replace(outcome, elapsed_s=time.perf_counter() - started)
        except Exception as exc:
            logger().exception("application %s: processing failed", bundle.application_id)
            detail = f"{type(exc).__name__}: {exc}"[:2000]
            try:
                t.dead_letter(
                    landing,
                    bundle.application_id,
                    "process-application",
                    "PROCESSING_FAILED",
                    detail,
                )
            except Exception:
                detail += " (dead letter not recorded: database unavailable)"
            clock.status = OutcomeStatus.DEAD_LETTER.value
            return Outcome(
                bundle.application_id,
                OutcomeStatus.DEAD_LETTER,
                detail=f"PROCESSING_FAILED: {detail}",
            )


def decide_concurrently(
    runner: Runner,
    landing: str,
    bundles: Sequence[LandingBundle],
    *,
    workers: int,
    claimed: bool = False,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Decide undecided bundles on a thread pool of ``workers``, in this flow run.

    Applications run on a plain thread pool (KYC_CONCURRENCY at a time) inside the
    calling flow run, their stages inline, rather than as one Prefect task run each:
    a task run costs Prefect's API server ~35-60 ms of CPU (its events are recorded
    after the fact), as much as the GX gate, and on 2 cores that is throughput lost
    (benchmarks/README.md). Each application still logs its outcome to the flow run,
    and its decision, audit trail or dead letter is in PostgreSQL.

    Args:
        runner: the batch's runner (stages inline).
        landing: landing URI.
        bundles: applications the caller found undecided.
        workers: applications at once.
        claimed: the caller holds their claims (a fan-out chunk).
        on_outcome: called in this thread with each outcome as it completes.

    Returns:
        The outcomes, in completion order.
    """
    outcomes: list[Outcome] = []
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kyc-app")
    # A copy of this flow run's context per application, so stages log to this flow
    # run and can see it (e.g. to suspend for an async register).
    futures = [
        pool.submit(
            contextvars.copy_context().run,
            process_application,
            runner,
            landing,
            bundle,
            checked=True,
            claimed=claimed,
        )
        for bundle in bundles
    ]
    try:
        for fut in as_completed(futures):
            outcome = fut.result()  # process_application never raises
            outcomes.append(outcome)
            on_outcome(outcome)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes


def _process_one(
    landing: str, bundle: LandingBundle, register: RegisterResult | None = None
) -> Outcome:
    """The per-application flow's unit: every stage a task run (TaskRunner)."""
    return process_application(TaskRunner(), landing, bundle, register=register)


#: One application as a task run: the per-application flow's unit (the batch flow
#: calls ``process_application`` directly on its own thread pool).
process_application_task = task(
    name="process-application",
    cache_policy=t.TASK_OPTIONS["cache_policy"],
    persist_result=False,
    # Backstop only: each stage has its own limits (DB statement timeout, S3 timeouts).
    timeout_seconds=4 * t.TASK_OPTIONS["timeout_seconds"],
)(_process_one)
