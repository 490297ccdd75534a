"""Scheduled flow: send the notification outbox's due messages (crash recovery).

Every decision writes its message to the outbox in its own transaction; the
pipeline sends it right after the commit. This flow sends whatever that fast path
did not: a process killed between the commit and the sending, a receiver that was
down after all retries. At least once, with the same message id every time.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from tasks import notify as tn


@flow(name="dispatch-notifications", log_prints=False)
def dispatch_notifications(limit: int = 500) -> list[str]:
    """Send due outbox messages; returns ``channel:DELIVERED|FAILED`` per attempt."""
    results = tn.dispatch_outbox(limit)
    failed = sum(r.endswith(":FAILED") for r in results)
    get_run_logger().info(
        "outbox: %d sent, %d failed (retried later)", len(results) - failed, failed
    )
    return results
