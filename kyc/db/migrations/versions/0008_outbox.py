"""Transactional outbox for decision notifications (issue 16).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 21:00:00

``notification_outbox``: one row per decision version, written in the decision's
transaction (kyc/db/outbox.py) and sent by a dispatcher (kyc/services/notify.py),
so a crash between the commit and the sending loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    """
CREATE TABLE notification_outbox (
    message_id       text        NOT NULL,
    event            text        NOT NULL,
    application_id   text        NOT NULL,
    version          integer     NOT NULL,
    payload          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered        text[]      NOT NULL DEFAULT '{}'::text[],
    sent_at          timestamptz,
    last_error       text,
    CONSTRAINT pk_notification_outbox PRIMARY KEY (message_id)
)
    """,
    """
CREATE INDEX ix_notification_outbox_pending ON notification_outbox (next_attempt_at)
    WHERE sent_at IS NULL
    """,
    """
CREATE INDEX ix_notification_outbox_application_id ON notification_outbox (application_id)
    """,
)


def upgrade() -> None:
    """Create the outbox."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop the outbox (unsent messages with it)."""
    op.execute("DROP TABLE notification_outbox")
