"""Notifications: delivery log of every attempt, and expiry reminders sent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:00:00

Written out explicitly, like 0001: a migration describes the schema as it was at
its revision. sql/schema.sql carries the same tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create notification_deliveries and reminders_sent."""
    op.create_table(
        "notification_deliveries",
        sa.Column("delivery_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_notification_deliveries")),
        sa.CheckConstraint(
            "attempt >= 1", name=op.f("ck_notification_deliveries_attempt_positive")
        ),
        sa.CheckConstraint(
            "status IN ('DELIVERED', 'RETRYING', 'FAILED')",
            name=op.f("ck_notification_deliveries_status_known"),
        ),
        sa.CheckConstraint(
            "channel IN ('webhook', 'sns', 'email')",
            name=op.f("ck_notification_deliveries_channel_known"),
        ),
    )
    for column in ("message_id", "application_id", "created_at"):
        op.create_index(
            op.f(f"ix_notification_deliveries_{column}"), "notification_deliveries", [column]
        )

    op.create_table(
        "reminders_sent",
        sa.Column("reminder_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("id_document_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("days_left", sa.Integer(), nullable=False),
        sa.Column("channels", pg.ARRAY(sa.Text()), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column(
            "sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.PrimaryKeyConstraint("reminder_id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint(
            "user_id",
            "id_document_id",
            "threshold_days",
            name=op.f("uq_reminders_sent_user_id_id_document_id_threshold_days"),
        ),
        sa.CheckConstraint(
            "threshold_days > 0", name=op.f("ck_reminders_sent_threshold_positive")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_reminders_sent_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["id_document_id"],
            ["id_documents.id_document_id"],
            name=op.f("fk_reminders_sent_id_document_id_id_documents"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_reminders_sent_id_document_id"), "reminders_sent", ["id_document_id"]
    )


def downgrade() -> None:
    """Drop the two tables (their indexes go with them)."""
    op.drop_table("reminders_sent")
    op.drop_table("notification_deliveries")
