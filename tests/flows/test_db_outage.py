"""Fault injection (issue 16): PostgreSQL stopped mid-batch for longer than the retries.

A server of the test's own (tests/fixtures/private_pg.py) is stopped as by a crash
(``pg_ctl stop -m immediate``) once the batch has decided its first application,
and stays down until the batch has ended. The batch must end by itself (no hang),
every application it could not finish visibly failed (PROCESSING_FAILED: what makes
``kyc ingest`` exit 1), nothing half-done left for the next run to trip over. With
the server back, a sweep in the same process (a warm worker's: same connection pool,
same claim keeper) decides every remaining application once: one decision, one
id_documents and one selfies row per application, no claim and no open dead letter
left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.cli.pipeline import RETRY_NEEDED
from kyc.db.engine import upgrade
from kyc.storage.local import LocalStore
from tests.fixtures.private_pg import PrivatePostgres
from tests.services.conftest import land

pytestmark = pytest.mark.slow

N = 4


@pytest.fixture
def private_pg(tmp_path: Path) -> Iterator[PrivatePostgres]:
    """A started server of this test's own, stopped at the end."""
    pg = PrivatePostgres(tmp_path / "pg")
    pg.start()
    yield pg
    if pg.running():
        pg.stop("fast")


def _count(pg: PrivatePostgres, sql: str) -> int:
    conn = psycopg2.connect(
        host="127.0.0.1", port=pg.port, user="postgres", dbname="kyc", connect_timeout=5
    )
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
            assert row is not None
            return int(row[0])
    finally:
        conn.close()


def test_database_stopped_mid_batch_then_every_application_decided_once(
    prefect_api: None,
    shared_data: Path,
    private_pg: PrivatePostgres,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = private_pg.create_database("kyc")
    upgrade(url)
    landing = tmp_path / "landing"
    store = LocalStore(landing)
    ids = [
        land(store, shared_data, identity=i % 4, app_id=f"pgdown-{i}").application_id
        for i in range(N)
    ]
    monkeypatch.setenv("KYC_DATABASE_URL", url)
    monkeypatch.setenv("KYC_LANDING", str(landing))
    monkeypatch.setenv("KYC_LIVENESS_POLICY", "record")
    monkeypatch.setenv("KYC_CONCURRENCY", "2")
    monkeypatch.setenv("KYC_LANDING_SETTLE_SECONDS", "0")
    runtime.reset()

    stopped = threading.Event()
    batch_done = threading.Event()
    errors: list[BaseException] = []

    def crash_after_first_decision() -> None:
        try:
            while not batch_done.is_set():
                if _count(private_pg, "select count(*) from kyc_decisions") >= 1:
                    private_pg.stop("immediate")
                    stopped.set()
                    return
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    watcher = threading.Thread(target=crash_after_first_decision, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        first = {o.application_id: o for o in ingest_landing(str(landing))}
    finally:
        batch_done.set()
        watcher.join(30)
    first_run_s = time.monotonic() - started
    assert not errors, errors
    assert stopped.is_set(), "the batch ended before the server could be stopped"
    assert not private_pg.running()  # down for the whole rest of the batch

    # Every application has an outcome; those the outage caught failed visibly.
    assert set(first) == set(ids)
    failed = [o for o in first.values() if o.status != "DECIDED"]
    assert failed, first
    for o in failed:
        assert o.status == "DEAD_LETTER" and o.detail.startswith(RETRY_NEEDED), o
    # Ended by itself, within the stages' retries (1 + 5 s, twice per application:
    # the stage and the dead letter) for each application, two at a time.
    assert first_run_s < 180, first_run_s

    private_pg.start()
    # Same process, same runtime: the pool's dead connections and the claims whose
    # release failed while the server was down must not stand in the way.
    again = {o.application_id: o for o in ingest_landing(str(landing))}
    assert set(again) == set(ids)
    for app_id in ids:
        expected = "ALREADY_DECIDED" if first[app_id].status == "DECIDED" else "DECIDED"
        assert again[app_id].status == expected, again[app_id]

    assert _count(private_pg, "select count(*) from kyc_decisions") == N
    assert _count(private_pg, "select count(distinct application_id) from kyc_decisions") == N
    for table in ("applications", "id_documents", "selfies"):
        assert _count(private_pg, f"select count(*) from {table}") == N, table
    assert _count(private_pg, "select count(*) from processing_claims") == 0
    assert _count(private_pg, "select count(*) from dead_letters where resolved_at is null") == 0
    print(f"first run {first_run_s:.1f} s; {len(failed)} of {N} failed while the server was down")
