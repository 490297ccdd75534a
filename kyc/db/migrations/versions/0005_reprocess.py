"""Reprocessing: a new decision version on the same objects, marked as such.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:00:00

Until now ``(application_id, input_fingerprint)`` was unique: the same objects could
never be decided twice. Reprocessing (an operator asks for a fresh decision, e.g.
after a threshold or engine change) deliberately decides the same objects again.
``reprocess_of`` names the version a reprocessed decision re-ran; the uniqueness now
holds for decisions made on landed objects only (``reprocess_of IS NULL``), so
re-landing the same objects is still idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UQ = "uq_kyc_decisions_application_id_input_fingerprint"


def upgrade() -> None:
    """Add ``reprocess_of``; make the fingerprint unique among landing decisions only."""
    op.add_column("kyc_decisions", sa.Column("reprocess_of", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_kyc_decisions_reprocess_of_earlier"),
        "kyc_decisions",
        "reprocess_of IS NULL OR (reprocess_of >= 1 AND reprocess_of < version)",
    )
    op.drop_constraint(op.f(_UQ), "kyc_decisions", type_="unique")
    op.create_index(
        op.f(_UQ),
        "kyc_decisions",
        ["application_id", "input_fingerprint"],
        unique=True,
        postgresql_where=sa.text("reprocess_of IS NULL"),
    )


def downgrade() -> None:
    """Back to one decision per fingerprint: reprocessed versions are removed first."""
    op.execute("DELETE FROM kyc_decisions WHERE reprocess_of IS NOT NULL")
    op.drop_index(op.f(_UQ), table_name="kyc_decisions")
    op.create_unique_constraint(op.f(_UQ), "kyc_decisions", ["application_id", "input_fingerprint"])
    op.drop_constraint(
        op.f("ck_kyc_decisions_reprocess_of_earlier"), "kyc_decisions", type_="check"
    )
    op.drop_column("kyc_decisions", "reprocess_of")
