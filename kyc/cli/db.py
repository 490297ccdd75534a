"""``kyc db``: database maintenance."""

from __future__ import annotations

from kyc.cli.common import console


def upgrade() -> None:
    """Apply the Alembic migrations to KYC_DATABASE_URL (or the embedded database)."""
    from kyc import runtime

    runtime.database()
    console.print("database is at the latest migration")
