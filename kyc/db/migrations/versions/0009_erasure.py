"""Erasure and retention markers (issue 16).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 21:30:00

``users.erased_at``: when ``kyc erase`` redacted the person (the row stays as the
decision skeleton's anchor). ``applications.objects_deleted_at``: when the
application's objects (and face embeddings) were deleted by erasure or retention.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two markers."""
    op.add_column("users", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "applications",
        sa.Column("objects_deleted_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_column("applications", "objects_deleted_at")
    op.drop_column("users", "erased_at")
