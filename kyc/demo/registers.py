"""The demo's register snapshot: a small, clearly fictional extract shipped in the package.

Names and numbers in ``register_snapshot.csv`` are invented for the demo (they
match the demo's synthetic applicants, or say "Demo ... Example"); they are not
entries of the real registers.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from kyc.db.engine import session_scope
from kyc.db.models import RegisterSnapshotEntry
from kyc.engines.register_snapshot import load_extract

DEMO_REGISTER_SNAPSHOT = Path(__file__).with_name("register_snapshot.csv")


class RealExtractLoaded(RuntimeError):
    """A real register extract is loaded; the demo will not replace it."""


def load_demo_register(database: sa.Engine) -> int:
    """Load the demo snapshot, unless a real extract would be replaced.

    Returns:
        The entries loaded.

    Raises:
        RealExtractLoaded: another (non-demo) extract is loaded in this database.
    """
    with session_scope(database) as s:
        others = s.execute(
            sa.select(RegisterSnapshotEntry.source_file)
            .where(RegisterSnapshotEntry.source_file != DEMO_REGISTER_SNAPSHOT.name)
            .limit(1)
        ).scalar_one_or_none()
    if others is not None:
        raise RealExtractLoaded(
            f"a register extract ({others}) is loaded in this database; "
            "the demo does not overwrite it (use another KYC_DATABASE_URL)"
        )
    return load_extract(database, DEMO_REGISTER_SNAPSHOT)


def remove_demo_register(database: sa.Engine) -> int:
    """Delete the demo's fictional entries (before a real extract is loaded)."""
    from kyc.db.register_repository import delete_snapshot_source

    with session_scope(database) as s:
        return delete_snapshot_source(s, source_file=DEMO_REGISTER_SNAPSHOT.name)
