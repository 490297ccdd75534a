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


def test_the_coordinator_hands_out_again_then_gives_up(
    landing: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fan_out's bookkeeping on the real database; Prefect's side replaced (unit test)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import fanout
    from kyc.domain.fanout import RunView

    store = LocalStore(landing)
    ids = [land(store, shared_data, identity=i).application_id for i in (0, 1)]
    bundles = discover_applications.fn(str(landing)).complete
    assert sorted(b.application_id for b in bundles) == sorted(ids)
    decided_id, failing_id = ids
    submitted: list[list[str]] = []

    def submit(landing_uri: str, chunk: list) -> str:
        submitted.append([b.application_id for b in chunk])
        # The "worker" decides one application in the chunk; the other makes its run
        # fail at once, before claiming anything.
        mine = [b for b in chunk if b.application_id == decided_id]
        if mine:
            outcome = process_application(InlineRunner(), landing_uri, mine[0], checked=True)
            assert outcome.status == "DECIDED"
        return f"run-{len(submitted)}"

    monkeypatch.setattr(fanout, "_submit_chunk", submit)
    monkeypatch.setattr(fanout, "_run_views", lambda ids: {r: RunView(final=True) for r in ids})
    monkeypatch.setenv("KYC_FANOUT_POLL_SECONDS", "0.05")
    monkeypatch.setenv("KYC_CLAIM_MAX_ATTEMPTS", "3")
    runtime.reset()
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        outcomes = {o.application_id: o for o in fanout.fan_out(str(landing), bundles, chunk=5)}
    assert outcomes[decided_id].status == "DECIDED"
    assert outcomes[failing_id].status == "DEAD_LETTER"
    assert "PROCESSING_ABANDONED" in outcomes[failing_id].detail
    # Handed out three times in all, alone after the first chunk.
    assert [failing_id in s for s in submitted] == [True, True, True]
    assert submitted[1:] == [[failing_id], [failing_id]]
    assert _count("select count(*) from dead_letters where error_code = 'PROCESSING_ABANDONED'") == 1


def test_fan_out_is_refused_without_a_prefect_server(landing: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.fanout import FanoutUnavailable, fan_out

    with temporary_settings({PREFECT_API_URL: ""}), pytest.raises(FanoutUnavailable):
        fan_out(str(landing), [], chunk=5)
