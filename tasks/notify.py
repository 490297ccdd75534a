"""Prefect tasks for notifications: thin wrappers around :mod:`kyc.services.notify`.

Notification tasks never fail a run over a delivery: :func:`kyc.notify.base.deliver`
retries with backoff on its own (honouring Retry-After) and every attempt lands in
the delivery log, so these tasks have no Prefect retries of their own (they would
multiply the attempts and hide them from the log).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from kyc import runtime
from kyc.notify.dispatch import ExpiryReminder
from kyc.services import notify
from kyc.services.notify import ReminderOutcome

NOTIFY_OPTIONS: dict[str, Any] = {"retries": 0, "cache_policy": NO_CACHE, "persist_result": False}


@task(name="notify-decision", **NOTIFY_OPTIONS)
def notify_decision(application_id: str, input_fingerprint: str) -> list[str]:
    """Tell the configured receivers about the decision on these objects."""
    return notify.notify_decision_made(runtime.current(), application_id, input_fingerprint)


@task(name="dispatch-outbox", **NOTIFY_OPTIONS)
def dispatch_outbox(limit: int = 500) -> list[str]:
    """Send the notification outbox's due messages (see kyc.services.notify)."""
    return notify.dispatch_outbox(runtime.current(), limit=limit)


# persist_result=False: the reminders carry email addresses, never written to disk.
@task(
    name="find-due-reminders",
    retries=1,
    retry_delay_seconds=5,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def find_due_reminders(today: dt.date) -> list[ExpiryReminder]:
    """Documents with a reminder due on ``today`` (see kyc.domain.reminders)."""
    return notify.find_due_reminders(runtime.current(), today)


@task(name="send-reminder", **NOTIFY_OPTIONS)
def send_reminder(reminder: ExpiryReminder) -> ReminderOutcome:
    """Claim the reminder, send it, commit the claim (see kyc.services.notify)."""
    return notify.send_reminder(runtime.current(), reminder)


__all__ = [
    "NOTIFY_OPTIONS",
    "ReminderOutcome",
    "dispatch_outbox",
    "find_due_reminders",
    "notify_decision",
    "send_reminder",
]
