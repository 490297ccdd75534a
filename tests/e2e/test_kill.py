"""`kyc ingest` killed with SIGKILL mid-run: its children end, and a re-run finishes the batch.

Nothing in the killed process runs (no atexit hook, no ``finally``): Prefect's
ephemeral API server, the GX worker and the face-descriptor worker must notice by
themselves (kyc/lifeline.py). The run is killed while applications are registered
but not yet decided; the next run must decide each exactly once without a second
id_documents or selfies row for the interrupted ones, and take the killed run's
claims over at once (its process is provably gone).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from kyc.settings import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,
    # One server is enough: the subject is the processes, not the database.
    pytest.mark.parametrize("pg_server", ["embedded"], indirect=True),
]

KYC = [sys.executable, "-m", "kyc.cli"]
N = 6


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KYC_"))}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        KYC_DATABASE_URL=db_url,
        KYC_LIVENESS_POLICY="record",
        KYC_CONCURRENCY="2",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
    )
    return env


def _count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


UNDECIDED = (
    "select count(*) from applications a where not exists"
    " (select 1 from kyc_decisions d where d.application_id = a.application_id)"
)


def test_sigkill_leaves_no_child_and_no_half_registered_rows(
    fresh_pg_url: str, shared_data: Path, tmp_path: Path
) -> None:
    from kyc.demo.batch import generate_applications
    from kyc.storage.local import LocalStore

    landing = tmp_path / "landing"
    generate_applications(LocalStore(landing), shared_data, N, run_id="kill", seed=7)
    env = _env(fresh_pg_url, tmp_path)
    log = (tmp_path / "ingest.log").open("wb")
    cli = subprocess.Popen(
        [*KYC, "ingest", str(landing), "--json"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    engine = sa.create_engine(fresh_pg_url)
    try:
        parent = psutil.Process(cli.pid)
        seen: dict[int, str] = {}
        deadline = time.monotonic() + 240
        # Kill while an application is registered but undecided, with every child up:
        # the API server (uvicorn), its lifeline, the GX and face-descriptor workers.
        while True:
            assert cli.poll() is None, (tmp_path / "ingest.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the run never reached a killable point"
            for child in parent.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    seen.setdefault(child.pid, " ".join(child.cmdline()))
            spawned = sum("spawn_main" in c for c in seen.values())
            server = any("uvicorn" in c for c in seen.values())
            if spawned >= 2 and server:
                try:
                    if _count(engine, UNDECIDED) > 0:
                        break
                except sa.exc.OperationalError:
                    pass  # not migrated yet
            time.sleep(0.05)
        cli.send_signal(signal.SIGKILL)
        cli.wait(10)
        survivors: list[str] = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            survivors = [cmd for pid, cmd in seen.items() if _alive(pid)]
            if not survivors:
                break
            time.sleep(0.2)
        assert not survivors, f"children outlived the killed CLI: {survivors}"
        interrupted = _count(engine, UNDECIDED)
        assert interrupted > 0

        # The next run decides everything, each once, on the rows the killed run left.
        done = subprocess.run(
            [*KYC, "ingest", str(landing), "--json"],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert _count(engine, "select count(*) from kyc_decisions") == N
        assert _count(engine, "select count(distinct application_id) from kyc_decisions") == N
        for table in ("applications", "id_documents", "selfies"):
            assert _count(engine, f"select count(*) from {table}") == N, table
        assert _count(engine, "select count(*) from processing_claims") == 0
        assert _count(engine, "select count(*) from dead_letters") == 0
    finally:
        if cli.poll() is None:
            cli.kill()
        log.close()
        engine.dispose()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
