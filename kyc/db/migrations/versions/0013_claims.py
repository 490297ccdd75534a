"""Processing claims: one worker at a time per application's objects (issue 15).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:00:00

``processing_claims``: a row per (application, input fingerprint) being processed,
beside the idempotency key of ``kyc_decisions``. A worker claims before any engine
work, renews its lease while it works and deletes the row when it is done; a claim
whose lease has run out (its worker was killed) can be taken over by another
worker (kyc/db/claims.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    """
CREATE TABLE processing_claims (
    application_id     text        NOT NULL,
    input_fingerprint  text        NOT NULL,
    owner              text        NOT NULL,
    claimed_at         timestamptz NOT NULL DEFAULT now(),
    lease_until        timestamptz NOT NULL,
    attempts           integer     NOT NULL DEFAULT 1,
    CONSTRAINT pk_processing_claims PRIMARY KEY (application_id, input_fingerprint)
)
    """,
    """
CREATE INDEX ix_processing_claims_owner ON processing_claims (owner)
    """,
    """
CREATE INDEX ix_processing_claims_lease_until ON processing_claims (lease_until)
    """,
)


def upgrade() -> None:
    """Create the claims table."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop it (claims in flight with it: their applications are simply undecided)."""
    op.execute("DROP TABLE processing_claims")
