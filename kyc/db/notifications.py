"""Repository functions for notifications: the delivery log and expiry reminders.

Same rules as :mod:`kyc.db.repository`: session first, keyword-only arguments, the
caller's transaction, no business logic (which reminder is due is decided in
:mod:`kyc.domain.reminders`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

from kyc.db.models import IdDocument, NotificationDelivery, ReminderSent, User
from kyc.db.repository import _iso_utc, audit
from kyc.notify.base import Attempt

#: Users reminded about their documents' expiry: a rejected applicant has no
#: verification to keep, and a pending one has no decided document.
REMINDED_USER_STATUSES = ("VERIFIED", "MANUAL_REVIEW")


@dataclass(frozen=True, slots=True)
class ReminderCandidate:
    """A user's latest decided document that expires soon, with reminders sent so far."""

    user_id: uuid.UUID
    id_document_id: uuid.UUID
    application_id: str
    email: str
    first_name: str
    expiry_date: dt.date
    sent_thresholds: frozenset[int]


def record_delivery_attempt(session: Session, *, attempt: Attempt) -> int:
    """Append one delivery attempt to the log; returns its id."""
    row = NotificationDelivery(
        message_id=attempt.message_id,
        channel=attempt.channel,
        event=attempt.event,
        application_id=attempt.application_id,
        target=attempt.target,
        attempt=attempt.attempt,
        status=attempt.status,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        error=attempt.error,
    )
    session.add(row)
    session.flush()
    return int(row.delivery_id)


def list_deliveries(
    session: Session,
    *,
    failed_only: bool = False,
    application_id: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Delivery attempts, newest first, as JSON-ready dicts.

    Args:
        session: an open session.
        failed_only: only notifications that failed for good (their final attempt),
            not those resent successfully since.
        application_id: restrict to one application.
        limit: at most this many rows.
    """
    d = NotificationDelivery
    stmt = sa.select(d).order_by(d.created_at.desc(), d.delivery_id.desc()).limit(limit)
    if failed_only:
        # The final attempt of a message that failed for good and was not resent
        # successfully since (no newer attempt on the same channel).
        newer = aliased(NotificationDelivery)
        stmt = stmt.where(
            d.status == "FAILED",
            ~sa.exists().where(
                newer.message_id == d.message_id,
                newer.channel == d.channel,
                newer.delivery_id > d.delivery_id,
            ),
        )
    if application_id is not None:
        stmt = stmt.where(d.application_id == application_id)
    return [
        {
            "delivery_id": r.delivery_id,
            "message_id": r.message_id,
            "channel": r.channel,
            "event": r.event,
            "application_id": r.application_id,
            "target": r.target,
            "attempt": r.attempt,
            "status": r.status,
            "status_code": r.status_code,
            "latency_ms": r.latency_ms,
            "error": r.error,
            "created_at": _iso_utc(r.created_at),
        }
        for r in session.execute(stmt).scalars()
    ]


def failed_messages(session: Session, *, event: str) -> list[tuple[str, str, str]]:
    """``(message_id, channel, application_id)`` whose latest attempt is FAILED.

    A message resent successfully later has a newer DELIVERED row and is not listed.
    """
    d = NotificationDelivery
    latest = (
        sa.select(d.message_id, d.channel, d.application_id, d.status)
        .where(d.event == event, d.application_id.is_not(None))
        .distinct(d.message_id, d.channel)
        .order_by(d.message_id, d.channel, d.delivery_id.desc())
        .subquery()
    )
    rows = session.execute(
        sa.select(latest.c.message_id, latest.c.channel, latest.c.application_id)
        .where(latest.c.status == "FAILED")
        .order_by(latest.c.application_id, latest.c.channel)
    )
    return [(r.message_id, r.channel, r.application_id) for r in rows]


def reminder_candidates(
    session: Session, *, today: dt.date, horizon_days: int
) -> list[ReminderCandidate]:
    """Each user's latest decided document expiring within ``horizon_days`` of ``today``.

    Only users in :data:`REMINDED_USER_STATUSES`; already expired documents are
    left out. Ordered by expiry date (most urgent first).
    """
    latest = (
        sa.select(
            IdDocument.id_document_id,
            IdDocument.user_id,
            IdDocument.application_id,
            IdDocument.expiry_date,
        )
        .where(IdDocument.status == "DECIDED")
        # DISTINCT ON keeps each user's newest decided document.
        .distinct(IdDocument.user_id)
        .order_by(IdDocument.user_id, IdDocument.created_at.desc(), IdDocument.id_document_id)
        .subquery()
    )
    stmt = (
        sa.select(
            latest.c.user_id,
            latest.c.id_document_id,
            latest.c.application_id,
            latest.c.expiry_date,
            User.email,
            User.first_name,
        )
        .join(User, User.user_id == latest.c.user_id)
        .where(
            User.status.in_(REMINDED_USER_STATUSES),
            latest.c.expiry_date >= today,
            latest.c.expiry_date <= today + dt.timedelta(days=horizon_days),
        )
        .order_by(latest.c.expiry_date, latest.c.user_id)
    )
    rows = session.execute(stmt).all()
    sent: dict[uuid.UUID, set[int]] = {}
    if rows:
        for doc_id, threshold in session.execute(
            sa.select(ReminderSent.id_document_id, ReminderSent.threshold_days).where(
                ReminderSent.id_document_id.in_([r.id_document_id for r in rows])
            )
        ):
            sent.setdefault(doc_id, set()).add(int(threshold))
    return [
        ReminderCandidate(
            user_id=r.user_id,
            id_document_id=r.id_document_id,
            application_id=r.application_id,
            email=r.email,
            first_name=r.first_name,
            expiry_date=r.expiry_date,
            sent_thresholds=frozenset(sent.get(r.id_document_id, ())),
        )
        for r in rows
    ]


def claim_reminder(
    session: Session,
    *,
    user_id: uuid.UUID,
    id_document_id: uuid.UUID,
    application_id: str,
    threshold_days: int,
    expiry_date: dt.date,
    days_left: int,
    channels: list[str],
    message_id: str,
) -> bool:
    """Record a reminder as sent; False when it already was (nothing to send).

    Call it before sending, in the transaction that commits only once the send
    succeeded: a concurrent run waits on the unique key and then finds the row,
    and a failed send rolls the claim back so the next run tries again.
    """
    stmt = (
        pg_insert(ReminderSent)
        .values(
            user_id=user_id,
            id_document_id=id_document_id,
            threshold_days=threshold_days,
            expiry_date=expiry_date,
            days_left=days_left,
            channels=channels,
            message_id=message_id,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "id_document_id", "threshold_days"])
        .returning(ReminderSent.reminder_id)
    )
    reminder_id = session.execute(stmt).scalar()
    if reminder_id is None:
        return False
    audit(
        session,
        application_id=application_id,
        entity="reminder",
        entity_id=reminder_id,
        action="sent",
        detail={
            "id_document_id": str(id_document_id),
            "threshold_days": threshold_days,
            "channels": channels,
        },
    )
    session.flush()
    return True


__all__ = [
    "REMINDED_USER_STATUSES",
    "ReminderCandidate",
    "claim_reminder",
    "failed_messages",
    "list_deliveries",
    "record_delivery_attempt",
    "reminder_candidates",
]
