"""Batch flow: every complete application under a landing prefix, concurrently."""

from __future__ import annotations

import contextvars
import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from prefect import flow

from flows.pipeline import (
    already_decided_outcome,
    incomplete_outcome,
    logger,
    process_application,
)
from flows.runner import InlineRunner
from kyc.domain.records import Outcome, OutcomeStatus
from kyc.settings import get_settings
from tasks import pipeline as t

#: Called with each Outcome as it completes (the CLI's progress bar); in-process only.
PROGRESS_HOOKS: list[Callable[[Outcome], None]] = []
#: Called once with the number of application folders found (the bar's total).
DISCOVERY_HOOKS: list[Callable[[int], None]] = []


@flow(name="ingest-landing", log_prints=False)
def ingest_landing(landing: str | None = None) -> list[Outcome]:
    """Discover complete applications under ``landing`` and decide each one.

    Args:
        landing: folder or ``s3://bucket/prefix``; defaults to ``KYC_LANDING``.

    Returns:
        One outcome per application folder found (incomplete ones included), in id
        order. Re-running on the same prefix decides nothing twice.
    """
    settings = get_settings()
    landing = landing or settings.landing
    log = logger()
    # The batch runs its stages inline (see flows.runner); its register and licence
    # checks overlap the engines on the runner's threads.
    runner = InlineRunner(workers=2 * settings.concurrency)
    log.info("database: PostgreSQL %s", runner.run(t.check_database))
    # Waits (bounded) while files are still changing; what keeps changing is left
    # for the next sweep, reported INCOMPLETE.
    found = runner.run(t.discover_applications, landing, None, True)
    for discovered in DISCOVERY_HOOKS:
        discovered(len(found.complete) + len(found.incomplete))
    log.info(
        "landing %s: %d complete, %d incomplete",
        landing,
        len(found.complete),
        len(found.incomplete),
    )
    outcomes: list[Outcome] = []
    for inc in found.incomplete:
        outcome = incomplete_outcome(
            inc.application_id,
            list(inc.missing),
            list(inc.problems) + (["files still being written"] if inc.settling else []),
        )
        # An application waits while its objects are still arriving; ambiguous or
        # malformed folders are reported at once, and one that stays incomplete past
        # the timeout is reported too, so nobody waits on it silently.
        if inc.problems:
            runner.run(
                t.dead_letter,
                landing,
                inc.application_id,
                "discover",
                "APPLICATION_MALFORMED",
                outcome.detail,
            )
        elif inc.overdue(now=time.time(), timeout_seconds=settings.incomplete_timeout_seconds):
            runner.run(
                t.dead_letter,
                landing,
                inc.application_id,
                "discover",
                "INCOMPLETE_TIMEOUT",
                outcome.detail,
            )
            outcome = Outcome(
                inc.application_id,
                OutcomeStatus.DEAD_LETTER,
                detail="INCOMPLETE_TIMEOUT: " + outcome.detail,
            )
        outcomes.append(outcome)
        _notify(outcome)
    # One query for the whole batch instead of one transaction per application.
    decided = runner.run(t.decided_applications, found.complete) if found.complete else {}
    # Applications run on a plain thread pool (KYC_CONCURRENCY at a time) inside this
    # flow run, their stages inline, rather than as one Prefect task run each: a task
    # run costs Prefect's API server ~35-60 ms of CPU (its events are recorded after
    # the fact), as much as the GX gate, and on 2 cores that is throughput lost
    # (benchmarks/README.md). Each application still logs its outcome to this flow
    # run, and its decision, audit trail or dead letter is in PostgreSQL.
    futures: list[Future[Outcome]] = []
    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="kyc-app")
    for bundle in found.complete:
        previous = decided.get(bundle.application_id)
        if previous is not None:
            outcome = already_decided_outcome(bundle.application_id, previous)
            outcomes.append(outcome)
            _notify(outcome)
        else:
            # A copy of this flow run's context per application, so stages log to
            # this flow run and can see it (e.g. to suspend for an async register).
            futures.append(
                pool.submit(
                    contextvars.copy_context().run,
                    process_application,
                    runner,
                    landing,
                    bundle,
                    checked=True,
                )
            )
    try:
        for fut in as_completed(futures):
            outcome = fut.result()  # process_application never raises
            outcomes.append(outcome)
            _notify(outcome)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        runner.close()
    outcomes.sort(key=lambda o: o.application_id)
    log.info(
        "ingest finished at %s: %d outcomes", dt.datetime.now(dt.UTC).isoformat(), len(outcomes)
    )
    return outcomes


def _notify(outcome: Outcome) -> None:
    for hook in PROGRESS_HOOKS:
        hook(outcome)
