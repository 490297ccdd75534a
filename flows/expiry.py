"""Weekly flow: remind users whose identity document expires in 90, 30 or 7 days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger

from kyc import runtime
from kyc.services.notify import ReminderOutcome, ReminderStatus, reminder_channels_configured
from tasks import notify as tn


@dataclass(frozen=True, slots=True)
class ReminderRun:
    """Summary of one run (JSON-ready via ``as_dict``; ids only, no PII)."""

    today: dt.date
    configured: bool
    due: int = 0
    sent: int = 0
    already_sent: int = 0
    failed: int = 0
    outcomes: list[ReminderOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "today": self.today.isoformat(),
            "configured": self.configured,
            "due": self.due,
            "sent": self.sent,
            "already_sent": self.already_sent,
            "failed": self.failed,
            "reminders": [o.as_dict() for o in self.outcomes],
        }


@flow(name="expiry-reminders", log_prints=False)
def expiry_reminders(today: str | None = None) -> ReminderRun:
    """Send each due expiry reminder once (email to the holder, plus SNS when configured).

    Each user's latest decided document is checked against the thresholds in
    ``KYC_EXPIRY_REMINDER_DAYS`` (default 90, 30, 7). A threshold crossed since
    the last reminder is due even when this run is late; ``reminders_sent`` makes a
    re-run send nothing twice.

    Args:
        today: ``YYYY-MM-DD`` to run as of (default: today, UTC). For catching up
            or testing; the schedule leaves it empty.

    Returns:
        Counts and per-reminder outcomes. A failed send does not fail the run: it
        is logged in the delivery log and retried on the next run.
    """
    log = get_run_logger()
    day = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    if not reminder_channels_configured(runtime.current()):
        log.warning(
            "expiry reminders: no channel configured (KYC_SMTP_HOST or KYC_SNS_TOPIC_ARN); "
            "nothing sent, nothing recorded"
        )
        return ReminderRun(day, configured=False)
    due = tn.find_due_reminders(day)
    outcomes = [tn.send_reminder(reminder) for reminder in due]
    run = ReminderRun(
        day,
        configured=True,
        due=len(due),
        sent=sum(o.status is ReminderStatus.SENT for o in outcomes),
        already_sent=sum(o.status is ReminderStatus.ALREADY_SENT for o in outcomes),
        failed=sum(o.status is ReminderStatus.FAILED for o in outcomes),
        outcomes=outcomes,
    )
    log.info(
        "expiry reminders for %s: %d due, %d sent, %d already sent, %d failed",
        day,
        run.due,
        run.sent,
        run.already_sent,
        run.failed,
    )
    return run
