"""Intake API: which API key uploaded each application.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 20:00:00

``intake_requests`` remembers one response per Idempotency-Key; uploads sent
without one must still belong to the key that sent them, so that a client can only
read the status of its own applications (``GET /v1/applications/{id}``).
``intake_uploads`` is written in the same transaction as the application's rows
(multipart uploads), or reserves the id before any object exists (presigned S3
uploads): hence no foreign key to ``applications``.

Written as the DDL of sql/schema.sql (tests/db/test_schema.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    """
CREATE TABLE intake_uploads (
    application_id  text        NOT NULL,
    api_key_id      uuid        NOT NULL,
    method          text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_intake_uploads PRIMARY KEY (application_id),
    CONSTRAINT ck_intake_uploads_method_known CHECK (method IN ('multipart', 'presigned')),
    CONSTRAINT fk_intake_uploads_api_key_id_api_keys FOREIGN KEY (api_key_id)
        REFERENCES api_keys (api_key_id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_intake_uploads_api_key_id ON intake_uploads (api_key_id)
    """,
)


def upgrade() -> None:
    """Record the uploading API key of each application."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Forget it again (the applications themselves stay)."""
    op.execute("DROP TABLE intake_uploads")
