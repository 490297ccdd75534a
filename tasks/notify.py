"""Prefect tasks for notifications: thin wrappers around kyc.notify and kyc.db.

Notification tasks never fail a run over a delivery: :func:`kyc.notify.base.deliver`
retries with backoff on its own (honouring Retry-After) and every attempt lands in
the delivery log, so these tasks have no Prefect retries of their own (they would
multiply the attempts and hide them from the log).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from kyc import runtime
from kyc.db import notifications as notes
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.reminders import days_left, due_threshold
from kyc.notify.base import Attempt, deliver
from kyc.notify.dispatch import (
    Channels,
    DecisionEvent,
    ExpiryReminder,
    build_channels,
    decision_notifications_configured,
    notify_decision,
    policy_of,
    reminder_notification,
)
from kyc.settings import Settings, get_settings

_log = logging.getLogger(__name__)

NOTIFY_OPTIONS: dict[str, Any] = {"retries": 0, "cache_policy": NO_CACHE, "persist_result": False}

_channels_lock = threading.Lock()
_channels_cache: tuple[Settings, Channels] | None = None


def channels(settings: Settings | None = None) -> Channels:
    """The configured channels, built once per settings object (boto3 clients are slow)."""
    global _channels_cache
    settings = settings or get_settings()
    with _channels_lock:
        if _channels_cache is None or _channels_cache[0] is not settings:
            _channels_cache = (settings, build_channels(settings))
        return _channels_cache[1]


def record_attempt(attempt: Attempt) -> None:
    """Write one attempt to the delivery log, in its own transaction.

    Its own transaction so that the log survives whatever happens to the caller's
    (a reminder claim rolled back after a failed send still leaves its attempts).
    """
    with session_scope(runtime.database()) as s:
        notes.record_delivery_attempt(s, attempt=attempt)


@task(name="notify-decision", **NOTIFY_OPTIONS)
def notify_decision_task(application_id: str, input_fingerprint: str) -> list[str]:
    """Tell the configured receivers about the decision on these objects.

    Returns:
        ``channel:DELIVERED`` / ``channel:FAILED`` per channel notified.
    """
    settings = get_settings()
    with session_scope(runtime.database()) as s:
        rows = repo.list_decisions(
            s, application_id=application_id, input_fingerprint=input_fingerprint
        )
    if not rows:
        _log.warning("application %s: no decision to notify about", application_id)
        return []
    row = rows[0]
    results = notify_decision(
        DecisionEvent(
            application_id=row.application_id,
            version=row.version,
            decision=row.decision,
            reasons=tuple(row.reasons),
            decided_at=row.decided_at,
        ),
        channels(settings),
        decisions=settings.notify_decisions,
        policy=policy_of(settings),
        record=record_attempt,
    )
    return [f"{r.channel}:{'DELIVERED' if r.delivered else 'FAILED'}" for r in results]


def notify_after_decision(application_id: str, input_fingerprint: str, *, inline: bool) -> None:
    """Notify after a decision was recorded; cheap when nothing is configured.

    Never raises: the decision is already committed, and a notification problem
    (even a misconfiguration) must not turn it into a failed run or dead letter.
    It is logged here and, for delivery failures, in the delivery log.
    """
    if not decision_notifications_configured(get_settings()):
        return
    try:
        if inline:
            notify_decision_task.fn(application_id, input_fingerprint)
        else:
            notify_decision_task(application_id, input_fingerprint)
    except Exception:
        _log.exception("application %s: notifications not sent", application_id)


def resend_failed_decisions() -> list[str]:
    """Send again every decision notification whose last attempt FAILED.

    Only to the channel that failed, with the original message id (receivers
    de-duplicate on ``webhook-id``), and only while that decision is still the
    application's latest version: a superseded decision is not news any more.

    Returns:
        ``application_id channel DELIVERED|FAILED|SUPERSEDED`` per message.
    """
    from kyc.notify.base import message_id
    from kyc.notify.dispatch import DECISION_EVENT, decision_notification, decision_targets

    settings = get_settings()
    chans = channels(settings)
    with session_scope(runtime.database()) as s:
        failed = notes.failed_messages(s, event=DECISION_EVENT)
        latest = {
            app_id: rows[0]
            for app_id in {a for _, _, a in failed}
            if (rows := repo.list_decisions(s, application_id=app_id))
        }
    report: list[str] = []
    for msg_id, channel_name, app_id in failed:
        row = latest.get(app_id)
        if row is None or message_id(DECISION_EVENT, app_id, row.version) != msg_id:
            report.append(f"{app_id} {channel_name} SUPERSEDED")
            continue
        event = DecisionEvent(
            application_id=row.application_id,
            version=row.version,
            decision=row.decision,
            reasons=tuple(row.reasons),
            decided_at=row.decided_at,
        )
        targets = [
            c
            for c in decision_targets(row.decision, chans, decisions=settings.notify_decisions)
            if c.name == channel_name
        ]
        if not targets:
            report.append(f"{app_id} {channel_name} NOT_CONFIGURED")
            continue
        result = deliver(
            targets[0],
            decision_notification(event),
            policy=policy_of(settings),
            record=record_attempt,
        )
        report.append(f"{app_id} {channel_name} {'DELIVERED' if result.delivered else 'FAILED'}")
    return report


# --------------------------------------------------------------------------------------
# expiry reminders
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What happened to one due reminder."""

    id_document_id: str
    threshold_days: int
    status: str  # SENT | ALREADY_SENT | FAILED

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (ids and numbers only)."""
        return {
            "id_document_id": self.id_document_id,
            "threshold_days": self.threshold_days,
            "status": self.status,
        }


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
    thresholds = get_settings().expiry_reminder_days
    with session_scope(runtime.database()) as s:
        candidates = notes.reminder_candidates(s, today=today, horizon_days=max(thresholds))
    due: list[ExpiryReminder] = []
    for c in candidates:
        threshold = due_threshold(c.expiry_date, today, c.sent_thresholds, thresholds)
        if threshold is None:
            continue
        due.append(
            ExpiryReminder(
                user_id=str(c.user_id),
                id_document_id=str(c.id_document_id),
                application_id=c.application_id,
                email=c.email,
                first_name=c.first_name,
                threshold_days=threshold,
                days_left=days_left(c.expiry_date, today),
                expiry_date=c.expiry_date,
            )
        )
    return due


@task(name="send-reminder", **NOTIFY_OPTIONS)
def send_reminder(reminder: ExpiryReminder) -> ReminderOutcome:
    """Claim the reminder, send it (email to the holder, then SNS), commit the claim.

    The claim row and the send share one transaction: a failed email rolls the
    claim back (the next run retries); a concurrent run waits on the claim's unique
    key and then finds it taken. Only a crash between a successful send and the
    commit can repeat a reminder, never a normal re-run.
    """
    settings = get_settings()
    chans = channels(settings)
    notification = reminder_notification(reminder)
    targets = [c for c in (chans.reminder_email, chans.sns) if c is not None]
    policy = policy_of(settings)
    with session_scope(runtime.database()) as s:
        claimed = notes.claim_reminder(
            s,
            user_id=uuid.UUID(reminder.user_id),
            id_document_id=uuid.UUID(reminder.id_document_id),
            application_id=reminder.application_id,
            threshold_days=reminder.threshold_days,
            expiry_date=reminder.expiry_date,
            days_left=reminder.days_left,
            channels=[c.name for c in targets],
            message_id=notification.message_id,
        )
        if not claimed:
            return ReminderOutcome(reminder.id_document_id, reminder.threshold_days, "ALREADY_SENT")
        if not targets:
            raise RuntimeError(
                "no reminder channel configured (set KYC_SMTP_HOST or KYC_SNS_TOPIC_ARN)"
            )
        primary, *others = targets
        first = deliver(
            primary, notification, policy=policy, record=record_attempt, breaker=chans.breaker
        )
        if not first.delivered:
            # Roll the claim back: nobody was told, so the next run must try again.
            s.rollback()
            return ReminderOutcome(reminder.id_document_id, reminder.threshold_days, "FAILED")
        for channel in others:
            # A secondary channel failing is logged (FAILED in the delivery log);
            # the holder has their email, so the reminder counts as sent.
            deliver(
                channel, notification, policy=policy, record=record_attempt, breaker=chans.breaker
            )
    return ReminderOutcome(reminder.id_document_id, reminder.threshold_days, "SENT")


__all__ = [
    "ReminderOutcome",
    "channels",
    "find_due_reminders",
    "notify_after_decision",
    "notify_decision_task",
    "record_attempt",
    "resend_failed_decisions",
    "send_reminder",
]
