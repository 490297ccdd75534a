"""One batch shared by three workers, one killed with SIGKILL mid-run: every application decided once.

The real stack: ``python -m deployments.local up`` with ``KYC_WORKERS=3`` (a Prefect
server on PostgreSQL, the work pool, ``prefect deploy --all``, three warm workers),
then ``kyc ingest --fanout-chunk 5`` as the coordinator, 60 generated applications.
Once every worker holds claims, one worker is killed with SIGKILL; its applications
must be handed to the others, and the database must end with exactly one decision
per application, no dead letter and no claim left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from kyc.settings import PROJECT_ROOT
from tests.fixtures.db import DatabaseFactory

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)]

N = 60
WORKERS = 3


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def stack(
    pg_server: DatabaseFactory, fresh_pg_url: str, shared_data: Path, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """``make up`` with three warm workers on a landing of N applications; ``make down`` after."""
    from kyc.demo.batch import generate_applications
    from kyc.storage.local import LocalStore

    landing = tmp_path / "landing"
    # Landed before the stack starts: the folder watcher emits nothing for them, so
    # only the fan-out decides them.
    generate_applications(LocalStore(landing), shared_data, N, run_id="scale", seed=3)
    port = _free_port()
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KYC_"))}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        KYC_DATABASE_URL=fresh_pg_url,
        KYC_PREFECT_DATABASE_URL=pg_server.create("prefect_test"),
        KYC_LANDING=str(landing),
        KYC_WORKERS=str(WORKERS),
        KYC_CONCURRENCY="2",
        KYC_LIVENESS_POLICY="record",
        KYC_CLAIM_LEASE_SECONDS="30",
        KYC_FANOUT_POLL_SECONDS="1",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        # prefect.yaml schedules sweeps; none may run beside the batch under test.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    local = [sys.executable, "-m", "deployments.local"]
    try:
        up = subprocess.run(
            [*local, "up", "--port", str(port), "--run-dir", str(run_dir)],
            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=420,
        )
        assert up.returncode == 0, up.stdout + up.stderr[-4000:]
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
        env["KYC_RUN_DIR"] = str(run_dir)
        yield env
    finally:
        subprocess.run(
            [*local, "down", "--run-dir", str(run_dir)], env=env, cwd=PROJECT_ROOT, timeout=120
        )


def _worker_pids(run_dir: Path) -> dict[int, str]:
    from deployments.local import read_started, worker_name

    found = {}
    for n in range(1, WORKERS + 1):
        started = read_started(run_dir, worker_name(n))
        assert started is not None
        found[started.pid] = worker_name(n)
    return found


def _claim_holders(engine: sa.Engine) -> dict[int, list[tuple[str, str]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select owner, application_id, input_fingerprint from processing_claims")
        ).all()
    held: dict[int, list[tuple[str, str]]] = {}
    for owner, app, fp in rows:
        held.setdefault(int(owner.split(":")[1]), []).append((app, fp))
    return held


def test_three_workers_one_killed_every_application_decided_once(
    stack: dict[str, str], fresh_pg_url: str, tmp_path: Path
) -> None:
    run_dir = Path(stack["KYC_RUN_DIR"])
    workers = _worker_pids(run_dir)
    log = (tmp_path / "ingest.log").open("w")
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "kyc.cli", "ingest", stack["KYC_LANDING"], "--json",
         "--fanout-chunk", "5"],
        env=stack, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    engine = sa.create_engine(fresh_pg_url)
    try:
        # Kill a worker once every worker holds claims (each is mid-chunk).
        deadline = time.monotonic() + 240
        while True:
            assert coordinator.poll() is None, (tmp_path / "ingest.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the workers never all held claims"
            held = _claim_holders(engine)
            if set(workers) <= set(held):
                break
            time.sleep(0.2)
        victim = sorted(workers)[1]
        lost = held[victim]
        children = psutil.Process(victim).children(recursive=True)
        os.kill(victim, signal.SIGKILL)

        out, _ = coordinator.communicate(timeout=300)
        assert coordinator.returncode == 0, (tmp_path / "ingest.log").read_text()[-3000:]
        outcomes = [line for line in out.splitlines() if line.startswith("{")]
        assert len(outcomes) == N
        assert all('"status": "DECIDED"' in line for line in outcomes), outcomes

        with engine.connect() as conn:
            per_app = dict(conn.execute(sa.text(
                "select application_id, count(*) from kyc_decisions group by application_id"
            )).all())
            dead = conn.execute(sa.text("select count(*) from dead_letters")).scalar_one()
            claims = conn.execute(sa.text("select count(*) from processing_claims")).scalar_one()
        assert len(per_app) == N and Counter(per_app.values()) == Counter({1: N})
        assert {app for app, _ in lost} <= set(per_app)  # the victim's were decided by others
        assert dead == 0 and claims == 0
        # The victim's engine workers (GX, face descriptors) did not outlive it.
        time.sleep(2)
        assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    finally:
        if coordinator.poll() is None:
            coordinator.kill()
        log.close()
        engine.dispose()
