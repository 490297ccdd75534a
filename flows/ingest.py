"""Batch flow: every complete application under a landing prefix, concurrently."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from prefect import flow

from flows.fanout import fan_out
from flows.pipeline import (
    already_decided_outcome,
    decide_concurrently,
    incomplete_outcome,
    logger,
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
def ingest_landing(landing: str | None = None, fanout_chunk: int | None = None) -> list[Outcome]:
    """Discover complete applications under ``landing`` and decide each one.

    Args:
        landing: folder or ``s3://bucket/prefix``; defaults to ``KYC_LANDING``.
        fanout_chunk: hand the applications to ``process-chunk`` flow runs of this
            many each, run by the ``kyc-process`` pool's workers (flows/fanout.py);
            0 decides them in this run; defaults to ``KYC_FANOUT_CHUNK`` (0).

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
    undecided = []
    for bundle in found.complete:
        previous = decided.get(bundle.application_id)
        if previous is not None:
            outcome = already_decided_outcome(bundle.application_id, previous)
            outcomes.append(outcome)
            _notify(outcome)
        else:
            undecided.append(bundle)
    chunk = settings.fanout_chunk if fanout_chunk is None else fanout_chunk
    try:
        if chunk > 0 and undecided:
            # Many machines: the pool's workers decide chunks; this run coordinates.
            outcomes += fan_out(landing, undecided, chunk=chunk, on_outcome=_notify)
        else:
            outcomes += decide_concurrently(
                runner, landing, undecided, workers=settings.concurrency, on_outcome=_notify
            )
    finally:
        runner.close()
    outcomes.sort(key=lambda o: o.application_id)
    log.info(
        "ingest finished at %s: %d outcomes", dt.datetime.now(dt.UTC).isoformat(), len(outcomes)
    )
    return outcomes


def _notify(outcome: Outcome) -> None:
    for hook in PROGRESS_HOOKS:
        hook(outcome)
