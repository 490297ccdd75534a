"""Who hears about what: channels built from the settings, and the messages they get.

* every decision in ``KYC_NOTIFY_DECISIONS`` (default: all three) → signed webhook
  and SNS, whichever is configured;
* MANUAL_REVIEW → email to the customer-service team (``KYC_REVIEW_EMAIL_TO``);
* an identity document nearing expiry → email to its holder, and SNS.

Payloads carry ids, codes and dates only: a receiver that needs the applicant's
details looks them up with the application id, under its own access control.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kyc.notify.base import (
    Attempt,
    Channel,
    CircuitBreaker,
    DeliveryResult,
    Notification,
    RetryPolicy,
    deliver,
    message_id,
)
from kyc.settings import Settings

DECISION_EVENT = "kyc.decision"
EXPIRY_EVENT = "kyc.document_expiring"


@dataclass(frozen=True, slots=True)
class DecisionEvent:
    """What the receivers of a decision are told (no PII beyond the application id)."""

    application_id: str
    version: int
    decision: str
    reasons: tuple[str, ...]
    decided_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ExpiryReminder:
    """A reminder due for one document at one threshold (see kyc.domain.reminders)."""

    user_id: str
    id_document_id: str
    application_id: str
    email: str
    threshold_days: int
    days_left: int
    expiry_date: dt.date
    first_name: str = ""


@dataclass(frozen=True, slots=True)
class Channels:
    """The configured channels (None: not configured)."""

    webhook: Channel | None = None
    sns: Channel | None = None
    review_email: Channel | None = None
    reminder_email: Channel | None = None
    #: Shared by every delivery through these channels (per target).
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)

    @property
    def any(self) -> bool:
        """True when at least one channel is configured."""
        return any((self.webhook, self.sns, self.review_email, self.reminder_email))


def decision_notifications_configured(settings: Settings) -> bool:
    """Cheap check (no imports, no connections): would a decision notify anyone?"""
    return bool(
        settings.webhook_url
        or settings.sns_topic_arn
        or (settings.smtp_host and settings.review_email_to)
    )


def build_channels(settings: Settings) -> Channels:
    """Channels for what the settings configure.

    Raises:
        WebhookConfigError: the webhook URL or secrets are malformed.
        ValueError: an unusable SNS ARN or SMTP configuration.
    """
    webhook: Channel | None = None
    if settings.webhook_url:
        from kyc.notify.webhook import WebhookChannel

        secrets = [
            s.get_secret_value()
            for s in (settings.webhook_secret, settings.webhook_previous_secret)
            if s is not None and s.get_secret_value()
        ]
        webhook = WebhookChannel(
            settings.webhook_url, secrets, timeout_seconds=settings.webhook_timeout_seconds
        )
    sns: Channel | None = None
    if settings.sns_topic_arn:
        from kyc.notify.sns import SnsChannel

        sns = SnsChannel(
            settings.sns_topic_arn,
            region=_region_of(settings.sns_topic_arn) or settings.aws_region,
            endpoint_url=settings.sns_endpoint_url,
        )
    review_email: Channel | None = None
    reminder_email: Channel | None = None
    if settings.smtp_host:
        from kyc.notify.email import EmailChannel

        def mailer(default_to: Sequence[str]) -> EmailChannel:
            assert settings.smtp_host is not None
            return EmailChannel(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.smtp_from,
                default_to=default_to,
                tls=settings.smtp_tls,
                user=settings.smtp_user,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else None
                ),
                ca_file=settings.smtp_ca_file,
                timeout_seconds=settings.smtp_timeout_seconds,
            )

        reminder_email = mailer(())
        if settings.review_email_to:
            review_email = mailer(settings.review_email_to)
    return Channels(webhook, sns, review_email, reminder_email)


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[3] else None


def policy_of(settings: Settings) -> RetryPolicy:
    """The retry policy the settings ask for."""
    return RetryPolicy(
        max_attempts=settings.notify_max_attempts,
        backoff_seconds=settings.notify_backoff_seconds,
        max_delay_seconds=settings.notify_max_delay_seconds,
    )


def decision_notification(event: DecisionEvent) -> Notification:
    """The message for a decision (same id on every channel and every retry)."""
    decided_at = event.decided_at
    if decided_at.tzinfo is None:
        decided_at = decided_at.replace(tzinfo=dt.UTC)
    decided = decided_at.astimezone(dt.UTC).isoformat()
    reasons = ", ".join(event.reasons) or "none"
    return Notification(
        message_id=message_id(DECISION_EVENT, event.application_id, event.version),
        event=DECISION_EVENT,
        application_id=event.application_id,
        data={
            "application_id": event.application_id,
            "decision": event.decision,
            "reasons": list(event.reasons),
            "decided_at": decided,
            "version": event.version,
        },
        subject=f"KYC {event.decision}: application {event.application_id}",
        text=(
            f"Application {event.application_id} (decision version {event.version}) "
            f"was decided {event.decision} at {decided}.\n\n"
            f"Reasons: {reasons}\n\n"
            "Open the application in the review queue to look at its evidence.\n"
        ),
    )


#: What a name in a greeting may hold: letters (any script), combining marks, spaces,
#: hyphens, apostrophes and full stops. Anything else is not a name.
_NAME_CHARS = re.compile(r"^[^\W\d_](?:[^\W\d_]|[ '\u2019.-]){0,59}$")


def greeting_name(first_name: str) -> str | None:
    r"""The first name as it may appear in an email's greeting, or None.

    Form values are the applicant's: a "name" holding newlines, links or markup
    would let them write the email's text ("Dear X,\n\nClick here..."). Only a
    plain name of up to 60 characters is used; otherwise the greeting is generic.
    """
    name = " ".join(first_name.split())
    if not name or not _NAME_CHARS.match(name):
        return None
    return name


def reminder_notification(reminder: ExpiryReminder) -> Notification:
    """The reminder to a document's holder (the email carries their address only)."""
    name = greeting_name(reminder.first_name)
    greeting = f"Dear {name}," if name else "Hello,"
    when = reminder.expiry_date.isoformat()
    return Notification(
        message_id=message_id(EXPIRY_EVENT, reminder.id_document_id, reminder.threshold_days),
        event=EXPIRY_EVENT,
        application_id=reminder.application_id,
        data={
            "user_id": reminder.user_id,
            "id_document_id": reminder.id_document_id,
            "application_id": reminder.application_id,
            "threshold_days": reminder.threshold_days,
            "days_left": reminder.days_left,
            "expiry_date": when,
        },
        subject=f"Your identity document expires in {reminder.days_left} days",
        text=(
            f"{greeting}\n\n"
            f"the identity document you verified with us expires on {when} "
            f"(in {reminder.days_left} days). To keep your account verified, please "
            "upload your new document before then.\n"
        ),
        recipients=(reminder.email,),
    )


Recorder = Callable[[Attempt], None]


def notify_decision(
    event: DecisionEvent,
    channels: Channels,
    *,
    decisions: Sequence[str],
    policy: RetryPolicy,
    record: Recorder | None = None,
) -> list[DeliveryResult]:
    """Send a decision to every channel that should hear about it; never raises.

    Args:
        event: the recorded decision.
        channels: from :func:`build_channels`.
        decisions: decisions sent to the webhook and SNS (``KYC_NOTIFY_DECISIONS``).
        policy: retries and backoff.
        record: the delivery log writer, called per attempt.
    """
    notification = decision_notification(event)
    targets = decision_targets(event.decision, channels, decisions=decisions)
    return [
        deliver(c, notification, policy=policy, record=record, breaker=channels.breaker)
        for c in targets
    ]


def decision_targets(
    decision: str, channels: Channels, *, decisions: Sequence[str]
) -> list[Channel]:
    """The channels that hear about a decision of this kind."""
    targets: list[Channel] = []
    if decision in decisions:
        targets += [c for c in (channels.webhook, channels.sns) if c is not None]
    if decision == "MANUAL_REVIEW" and channels.review_email is not None:
        targets.append(channels.review_email)
    return targets


__all__ = [
    "DECISION_EVENT",
    "EXPIRY_EVENT",
    "Channels",
    "DecisionEvent",
    "ExpiryReminder",
    "build_channels",
    "decision_notification",
    "decision_notifications_configured",
    "decision_targets",
    "notify_decision",
    "policy_of",
    "reminder_notification",
]
