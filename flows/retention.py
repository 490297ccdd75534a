"""Scheduled flow: apply the retention periods (inactive by default in prefect.yaml)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from kyc import runtime
from kyc.services.privacy import apply_retention


@flow(name="apply-retention", log_prints=False)
def retention(apply: bool = False) -> dict[str, Any]:
    """Delete objects and embeddings past KYC_RETENTION_*_DAYS (dry run unless ``apply``)."""
    report = apply_retention(runtime.current(), apply=apply)
    get_run_logger().info(
        "retention (%s): %d application(s)",
        "applied" if report.applied else "dry run",
        len(report.applications),
    )
    return report.as_json()
