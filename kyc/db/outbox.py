"""The notification outbox: decision messages written with the decision, sent afterwards.

:func:`enqueue_decision` runs inside the transaction that records a decision version
(``repository.record_decision`` and the reviewers' ``review.record_review_decision``),
so the message exists exactly when the decision does. A dispatcher
(:func:`kyc.services.notify.dispatch_outbox`) claims due messages with
``FOR UPDATE SKIP LOCKED`` and a lease, sends them to the channels that have not
taken them yet, and marks them sent — at least once, with the same message id
(the webhook id) on every attempt.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from kyc.db.models import OutboxMessage

#: The event name of decision messages (the same as kyc.notify.dispatch.DECISION_EVENT).
DECISION_EVENT = "kyc.decision"


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed outbox message."""

    message_id: str
    event: str
    application_id: str
    version: int
    payload: dict[str, Any]
    attempts: int
    delivered: tuple[str, ...]


def enqueue_decision(
    session: Session,
    *,
    message_id: str,
    application_id: str,
    version: int,
    decision: str,
    reasons: list[str],
    decided_at: dt.datetime,
) -> None:
    """Write a decision version's message (idempotent on the message id)."""
    if decided_at.tzinfo is None:
        decided_at = decided_at.replace(tzinfo=dt.UTC)
    session.execute(
        pg_insert(OutboxMessage)
        .values(
            message_id=message_id,
            event=DECISION_EVENT,
            application_id=application_id,
            version=version,
            payload={
                "decision": decision,
                "reasons": list(reasons),
                "decided_at": decided_at.astimezone(dt.UTC).isoformat(),
            },
        )
        .on_conflict_do_nothing(index_elements=["message_id"])
    )


def claim(
    session: Session,
    *,
    now: dt.datetime,
    lease_seconds: float,
    application_id: str | None = None,
    limit: int = 100,
) -> list[Pending]:
    """Claim due messages (skipping those another dispatcher holds) for a lease.

    The lease moves ``next_attempt_at`` forward: a dispatcher that dies after the
    claim leaves the message due again once the lease ends.
    """
    m = OutboxMessage
    stmt = (
        sa.select(m)
        .where(m.sent_at.is_(None), m.next_attempt_at <= now)
        .order_by(m.next_attempt_at, m.message_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if application_id is not None:
        stmt = stmt.where(m.application_id == application_id)
    out = []
    for row in session.execute(stmt).scalars():
        row.attempts += 1
        row.next_attempt_at = now + dt.timedelta(seconds=lease_seconds)
        out.append(
            Pending(
                row.message_id,
                row.event,
                row.application_id,
                row.version,
                dict(row.payload),
                row.attempts,
                tuple(row.delivered),
            )
        )
    session.flush()
    return out


def settle(
    session: Session,
    *,
    message_id: str,
    delivered: list[str],
    done: bool,
    retry_at: dt.datetime | None,
    error: str | None,
) -> None:
    """Record a dispatch: the channels that took it; sent, or due again at ``retry_at``."""
    row = session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None:
        return
    row.delivered = sorted(set(row.delivered) | set(delivered))
    row.last_error = error[:500] if error else None
    if done:
        row.sent_at = sa.func.now()
    elif retry_at is not None:
        row.next_attempt_at = retry_at
    session.flush()


def pending_count(session: Session) -> int:
    """Messages not sent yet (a health figure: it should stay near zero)."""
    return int(
        session.execute(
            sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_(None))
        ).scalar_one()
    )
