"""Reprocess one application: decide it again from its stored objects, as a new version.

For an operator who wants a fresh decision (thresholds or engines changed, a review
asked for it) without anyone re-landing the objects. The earlier decision versions
stay in ``kyc_decisions`` and the audit log records the new one as ``reprocessed``,
naming the version it re-ran: the one place where "already decided" is bypassed on
purpose.
"""

from __future__ import annotations

from prefect import flow

from flows.pipeline import incomplete_outcome, logger, run_application
from flows.runner import TaskRunner
from kyc.domain.records import Outcome, OutcomeStatus
from tasks import pipeline as t


@flow(name="reprocess-application", log_prints=False)
def reprocess_application(application_id: str) -> Outcome:
    """Re-run the pipeline on an application's stored objects; record a new version.

    The objects are read again from where they were landed (the landing URI stored
    with the application). If they changed since the last decision, that is a new
    submission and is decided as one.

    Args:
        application_id: an application the pipeline has registered before.

    Returns:
        DECIDED (a new version), NOT_FOUND (no such application), INCOMPLETE (its
        objects are no longer all there) or DEAD_LETTER (unreadable now).
    """
    log = logger()
    stored = t.stored_application(application_id)
    if stored is None:
        return Outcome(
            application_id, OutcomeStatus.NOT_FOUND, detail="no such application was registered"
        )
    found = t.discover_applications(stored.landing_uri, application_id)
    bundle = next((b for b in found.complete if b.application_id == application_id), None)
    if bundle is None:
        incomplete = [
            incomplete_outcome(application_id, list(inc.missing), list(inc.problems))
            for inc in found.incomplete
            if inc.application_id == application_id
        ] or [
            incomplete_outcome(
                application_id, [], ["no objects left at the stored landing location"]
            )
        ]
        log.warning("application %s: cannot reprocess: %s", application_id, incomplete[0].detail)
        return incomplete[0]
    decided_before = t.already_decided(bundle)
    if decided_before is None:
        # New objects since the last decision: an ordinary decision, not a re-run.
        log.info("application %s: objects changed since the last decision", application_id)
        return run_application(TaskRunner(), stored.landing_uri, bundle, checked=True)
    latest = stored.latest_version or decided_before.version
    log.info("application %s: reprocessing decision version %d", application_id, latest)
    return run_application(TaskRunner(), stored.landing_uri, bundle, reprocess_of=latest)
