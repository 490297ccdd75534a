"""Claims in the pipeline: a run never works on an application another live worker holds.

No Prefect API is needed: the batch's inline runner calls the stages directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.pipeline import process_application
from flows.runner import InlineRunner
from kyc import runtime
from kyc.db import claims
from kyc.db.engine import session_scope
from kyc.storage.local import LocalStore
from tasks.pipeline import discover_applications
from tests.services.conftest import land

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)]

#: Another machine's worker: never judged dead from here, only by its lease.
OTHER = "elsewhere@1:4242:run-other"


@pytest.fixture
def landing(kyc_env: Path) -> Path:
    """A fresh landing and database; no Prefect API (the inline runner needs none)."""
    return kyc_env


def _count(sql: str) -> int:
    with runtime.database().connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


def test_a_held_application_is_left_alone_then_taken_over_when_abandoned(
    landing: Path, shared_data: Path
) -> None:
    app_id = land(LocalStore(landing), shared_data, identity=0).application_id
    (bundle,) = discover_applications.fn(str(landing), app_id).complete
    key = [(app_id, bundle.fingerprint)]
    with session_scope(runtime.database()) as s:
        claims.claim(s, keys=key, owner=OTHER, lease_seconds=300)

    runner = InlineRunner()
    try:
        held = process_application(runner, str(landing), bundle, checked=True)
        assert held.status == "IN_PROGRESS"
        # Nothing was registered, read or decided for it by this run.
        assert _count("select count(*) from applications") == 0
        assert _count("select count(*) from kyc_decisions") == 0

        # The other worker's lease runs out (it was killed): this run takes over.
        with session_scope(runtime.database()) as s:
            s.execute(sa.text("update processing_claims set lease_until = now() - interval '1 s'"))
        done = process_application(runner, str(landing), bundle, checked=True)
        assert done.status == "DECIDED", done.detail
        assert _count("select count(*) from kyc_decisions") == 1
        assert _count("select count(*) from processing_claims") == 0  # released

        # Decided: a later run with a stale "undecided" view says so, decides nothing.
        again = process_application(runner, str(landing), bundle, checked=True)
        assert again.status == "ALREADY_DECIDED"
        assert _count("select count(*) from kyc_decisions") == 1
    finally:
        runner.close()
