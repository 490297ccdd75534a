"""Per-application flow: for S3 events, reprocessing from the UI, and one-off runs."""

from __future__ import annotations

from prefect import flow

from flows.pipeline import incomplete_outcome, logger, process_application_task
from flows.registers import await_register_run
from kyc import telemetry
from kyc.domain.records import Outcome
from kyc.settings import get_settings
from tasks import pipeline as t


@flow(name="process-application", log_prints=False)
def process_application(
    application_id: str,
    landing: str | None = None,
    event_id: str | None = None,
    traceparent: str | None = None,
) -> Outcome:
    """Decide one application from its landed objects.

    Args:
        application_id: the ``incoming/<application_id>/`` folder.
        landing: folder or ``s3://bucket/prefix``; defaults to ``KYC_LANDING``.
        event_id: the ``aws.s3.object.created`` event that triggered this run (set by
            the deployment trigger; logged so a run can be traced to its object).
        traceparent: the landing event's trace (W3C ``traceparent``, set by the
            trigger when the bridge traces): the warm worker starts the run in that
            trace; under another worker the run's span is linked to it.

    Returns:
        The outcome. An application that is not complete yet is reported
        INCOMPLETE (it runs again when its last object lands).
    """
    landing = landing or get_settings().landing
    telemetry.link_current(traceparent)
    if event_id:
        logger().info("application %s: triggered by event %s", application_id, event_id)
    # Waits while the application's files are still changing (a slow, non-atomic writer).
    found = t.discover_applications(landing, application_id, wait=True)
    for bundle in found.complete:
        if bundle.application_id == application_id:
            # An asynchronous (Apify) register check suspends this flow run here,
            # before any engine work, when it runs from a deployment (flows/registers.py).
            register = await_register_run(landing, bundle)
            return process_application_task(landing, bundle, register)
    for inc in found.incomplete:
        if inc.application_id == application_id:
            problems = list(inc.problems) + (["files still being written"] if inc.settling else [])
            return incomplete_outcome(application_id, list(inc.missing), problems)
    return incomplete_outcome(application_id, [], ["no objects landed for this application"])
