"""Batch flow: every complete application under a landing prefix, concurrently."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.pipeline import Outcome, _already_decided, _logger, process_application_task
from kyc.settings import get_settings
from tasks import pipeline as t

#: Called with each Outcome as it completes (the CLI's progress bar); in-process only.
PROGRESS_HOOKS: list[Callable[[Outcome], None]] = []
#: Called once with the number of application folders found (the bar's total).
DISCOVERY_HOOKS: list[Callable[[int], None]] = []


#: Applications run as nested tasks on this pool (KYC_CONCURRENCY at a time).
_RUNNER: ThreadPoolTaskRunner[Any] = ThreadPoolTaskRunner(max_workers=get_settings().concurrency)


@flow(
    name="ingest-landing",
    task_runner=_RUNNER,  # type: ignore[arg-type]  # Prefect's generic is over-narrow
    log_prints=False,
)
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
    log = _logger()
    log.info("database: PostgreSQL %s", t.check_database())
    found = t.discover_applications(landing)
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
        outcome = Outcome(
            inc.application_id,
            "INCOMPLETE",
            detail="; ".join([f"missing {m}" for m in inc.missing] + list(inc.problems)),
        )
        # An application waits while its objects are still arriving; ambiguous or
        # malformed folders are reported at once, and one that stays incomplete past
        # the timeout is reported too, so nobody waits on it silently.
        if inc.problems:
            t.dead_letter(
                landing, inc.application_id, "discover", "APPLICATION_MALFORMED", outcome.detail
            )
        elif inc.overdue(now=time.time(), timeout_seconds=settings.incomplete_timeout_seconds):
            t.dead_letter(
                landing, inc.application_id, "discover", "INCOMPLETE_TIMEOUT", outcome.detail
            )
            outcome = Outcome(
                inc.application_id, "DEAD_LETTER", detail="INCOMPLETE_TIMEOUT: " + outcome.detail
            )
        outcomes.append(outcome)
        _notify(outcome)
    # One query for the whole batch instead of one transaction per application.
    decided = t.decided_applications(found.complete) if found.complete else {}
    futures = []
    for bundle in found.complete:
        previous = decided.get(bundle.application_id)
        if previous is not None:
            outcome = _already_decided(bundle.application_id, previous)
            outcomes.append(outcome)
            _notify(outcome)
        else:
            futures.append(
                process_application_task.submit(landing, bundle, inline=True, checked=True)
            )
    for fut in futures:
        outcome = fut.result()
        outcomes.append(outcome)
        _notify(outcome)
    outcomes.sort(key=lambda o: o.application_id)
    log.info(
        "ingest finished at %s: %d outcomes", dt.datetime.now(dt.UTC).isoformat(), len(outcomes)
    )
    return outcomes


def _notify(outcome: Outcome) -> None:
    for hook in PROGRESS_HOOKS:
        hook(outcome)
