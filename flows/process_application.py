"""Per-application flow: for S3 events, reprocessing from the UI, and one-off runs."""

from __future__ import annotations

from prefect import flow

from flows.pipeline import Outcome, process_application_task
from kyc.settings import get_settings
from tasks import pipeline as t


@flow(name="process-application", log_prints=False)
def process_application(application_id: str, landing: str | None = None) -> Outcome:
    """Decide one application from its landed objects.

    Args:
        application_id: the ``incoming/<application_id>/`` folder.
        landing: folder or ``s3://bucket/prefix``; defaults to ``KYC_LANDING``.

    Returns:
        The outcome. An application that is not complete yet is reported
        INCOMPLETE (it runs again when its last object lands).
    """
    landing = landing or get_settings().landing
    found = t.discover_applications(landing, application_id)
    for bundle in found.complete:
        if bundle.application_id == application_id:
            return process_application_task(landing, bundle)
    for inc in found.incomplete:
        if inc.application_id == application_id:
            return Outcome(
                application_id,
                "INCOMPLETE",
                detail="; ".join([f"missing {m}" for m in inc.missing] + list(inc.problems)),
            )
    return Outcome(application_id, "INCOMPLETE", detail="no objects landed for this application")
