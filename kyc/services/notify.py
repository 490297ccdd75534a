"""Notifications: decisions to the configured receivers, failed ones again, expiry reminders.

Deliveries never fail a run: :func:`kyc.notify.base.deliver` retries with backoff on
its own (honouring Retry-After) and every attempt lands in the delivery log.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

from kyc.db import notifications as notes
from kyc.db import outbox
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.reminders import days_left, due_threshold
from kyc.notify.base import Attempt, deliver, message_id
from kyc.notify.dispatch import (
    DECISION_EVENT,
    DecisionEvent,
    ExpiryReminder,
    decision_notification,
    decision_notifications_configured,
    decision_targets,
    policy_of,
    reminder_notification,
)
from kyc.runtime import Runtime

_log = logging.getLogger(__name__)


def notifications_configured(rt: Runtime) -> bool:
    """Cheap check (no connections): would a decision notify anyone?"""
    return decision_notifications_configured(rt.settings)


def record_attempt(rt: Runtime, attempt: Attempt) -> None:
    """Write one attempt to the delivery log, in its own transaction.

    Its own transaction so that the log survives whatever happens to the caller's
    (a reminder claim rolled back after a failed send still leaves its attempts).
    """
    with session_scope(rt.db) as s:
        notes.record_delivery_attempt(s, attempt=attempt)


def _event(row: repo.DecisionRow) -> DecisionEvent:
    return DecisionEvent(
        application_id=row.application_id,
        version=row.version,
        decision=row.decision,
        reasons=tuple(row.reasons),
        decided_at=row.decided_at,
    )


def notify_decision_made(rt: Runtime, application_id: str, input_fingerprint: str) -> list[str]:
    """Send the application's pending decision messages now (the pipeline's fast path).

    The message was written to the outbox with the decision; this sends it at once
    instead of waiting for the dispatcher. ``input_fingerprint`` names the decision
    the caller made (kept for the task's signature; the outbox knows its versions).

    Returns:
        ``channel:DELIVERED`` / ``channel:FAILED`` per channel notified.
    """
    del input_fingerprint  # the outbox rows of this application are what is pending
    return dispatch_outbox(rt, application_id=application_id)


def notify_row(rt: Runtime, row: repo.DecisionRow) -> list[str]:
    """Send a decision version's outbox message now (e.g. a review's, after its commit)."""
    return dispatch_outbox(rt, application_id=row.application_id)


#: How long a claimed message is held by one dispatcher before another may take it.
OUTBOX_LEASE_SECONDS = 300.0
#: Longest wait before a message whose channels failed is tried again.
OUTBOX_MAX_RETRY_SECONDS = 3600.0


def dispatch_outbox(
    rt: Runtime,
    *,
    application_id: str | None = None,
    limit: int = 100,
    now: dt.datetime | None = None,
) -> list[str]:
    """Send due outbox messages to the channels that have not taken them yet.

    At least once: a message is marked sent only after every channel that should
    hear about it has taken it; the same message id (webhook id) goes out on every
    attempt, so receivers drop repeats. A dispatcher killed mid-send leaves the
    message claimed until its lease ends, then another sends it.

    Args:
        rt: the runtime.
        application_id: only this application's messages (the pipeline's fast path).
        limit: messages claimed at once.
        now: the time (tests).

    Returns:
        ``channel:DELIVERED`` / ``channel:FAILED`` per channel attempted.
    """
    now = now or dt.datetime.now(dt.UTC)
    with session_scope(rt.db) as s:
        claimed = outbox.claim(
            s,
            now=now,
            lease_seconds=OUTBOX_LEASE_SECONDS,
            application_id=application_id,
            limit=limit,
        )
    report: list[str] = []
    for msg in claimed:
        report += _dispatch_one(rt, msg, now)
    return report


def _dispatch_one(rt: Runtime, msg: outbox.Pending, now: dt.datetime) -> list[str]:
    event = DecisionEvent(
        application_id=msg.application_id,
        version=msg.version,
        decision=msg.payload["decision"],
        reasons=tuple(msg.payload["reasons"]),
        decided_at=dt.datetime.fromisoformat(msg.payload["decided_at"]),
    )
    targets = [
        c
        for c in decision_targets(
            event.decision, rt.channels, decisions=rt.settings.notify_decisions
        )
        if c.name not in msg.delivered
    ]
    notification = decision_notification(event)
    results = [
        deliver(
            c,
            notification,
            policy=policy_of(rt.settings),
            record=lambda attempt: record_attempt(rt, attempt),
            breaker=rt.channels.breaker,
        )
        for c in targets
    ]
    delivered = [r.channel for r in results if r.delivered]
    failed = [r for r in results if not r.delivered]
    retry = min(OUTBOX_MAX_RETRY_SECONDS, 30.0 * 2 ** min(msg.attempts, 10))
    with session_scope(rt.db) as s:
        outbox.settle(
            s,
            message_id=msg.message_id,
            delivered=delivered,
            done=not failed,
            retry_at=now + dt.timedelta(seconds=retry) if failed else None,
            error="; ".join(f"{r.channel}: {r.last_error}" for r in failed) or None,
        )
    return [f"{r.channel}:{'DELIVERED' if r.delivered else 'FAILED'}" for r in results]


def pending_notifications(rt: Runtime) -> int:
    """Outbox messages not sent yet."""
    with session_scope(rt.db) as s:
        return outbox.pending_count(s)


def resend_failed_decisions(rt: Runtime) -> list[str]:
    """Send again every decision notification whose last attempt FAILED.

    Only to the channel that failed, with the original message id (receivers
    de-duplicate on ``webhook-id``), and only while that decision is still the
    application's latest version: a superseded decision is not news any more.

    Returns:
        ``application_id channel DELIVERED|FAILED|SUPERSEDED|NOT_CONFIGURED`` per message.
    """
    settings, chans = rt.settings, rt.channels
    with session_scope(rt.db) as s:
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
            decision_notification(_event(row)),
            policy=policy_of(settings),
            record=lambda attempt: record_attempt(rt, attempt),
        )
        report.append(f"{app_id} {channel_name} {'DELIVERED' if result.delivered else 'FAILED'}")
    return report


# --------------------------------------------------------------------------------------
# expiry reminders
# --------------------------------------------------------------------------------------


class ReminderStatus(StrEnum):
    """What happened to one due reminder."""

    SENT = "SENT"
    ALREADY_SENT = "ALREADY_SENT"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class ReminderOutcome:
    """What happened to one due reminder."""

    id_document_id: str
    threshold_days: int
    status: ReminderStatus

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (ids and numbers only)."""
        return {
            "id_document_id": self.id_document_id,
            "threshold_days": self.threshold_days,
            "status": self.status.value,
        }


def reminder_channels_configured(rt: Runtime) -> bool:
    """Whether any channel can carry a reminder (email to the holder, or SNS)."""
    return bool(rt.settings.smtp_host or rt.settings.sns_topic_arn)


def find_due_reminders(rt: Runtime, today: dt.date) -> list[ExpiryReminder]:
    """Documents with a reminder due on ``today`` (see kyc.domain.reminders)."""
    thresholds = rt.settings.expiry_reminder_days
    with session_scope(rt.db) as s:
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


def send_reminder(rt: Runtime, reminder: ExpiryReminder) -> ReminderOutcome:
    """Claim the reminder, send it (email to the holder, then SNS), commit the claim.

    The claim row and the send share one transaction: a failed email rolls the
    claim back (the next run retries); a concurrent run waits on the claim's unique
    key and then finds it taken. Only a crash between a successful send and the
    commit can repeat a reminder, never a normal re-run.

    Raises:
        RuntimeError: no reminder channel is configured.
    """
    chans = rt.channels
    notification = reminder_notification(reminder)
    targets = [c for c in (chans.reminder_email, chans.sns) if c is not None]
    policy = policy_of(rt.settings)

    def record(attempt: Attempt) -> None:
        record_attempt(rt, attempt)

    def outcome(status: ReminderStatus) -> ReminderOutcome:
        return ReminderOutcome(reminder.id_document_id, reminder.threshold_days, status)

    with session_scope(rt.db) as s:
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
            return outcome(ReminderStatus.ALREADY_SENT)
        if not targets:
            raise RuntimeError(
                "no reminder channel configured (set KYC_SMTP_HOST or KYC_SNS_TOPIC_ARN)"
            )
        primary, *others = targets
        first = deliver(primary, notification, policy=policy, record=record, breaker=chans.breaker)
        if not first.delivered:
            # Roll the claim back: nobody was told, so the next run must try again.
            s.rollback()
            return outcome(ReminderStatus.FAILED)
        for channel in others:
            # A secondary channel failing is logged (FAILED in the delivery log);
            # the holder has their email, so the reminder counts as sent.
            deliver(channel, notification, policy=policy, record=record, breaker=chans.breaker)
    return outcome(ReminderStatus.SENT)
