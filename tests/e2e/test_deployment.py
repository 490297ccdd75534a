"""prefect.yaml against a real Prefect server: deploy, run on a worker, decide.

Starts `prefect server start` in a subprocess on a free loopback port, creates the
`kyc-process` work pool, runs `prefect deploy --all` from the project folder,
triggers the ingest-landing deployment on a small landing folder and lets a
process worker execute it; the decisions must then be in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kyc.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_LOGGING_LEVEL="WARNING",
        # prefect.yaml schedules a sweep; no scheduled runs may interfere here.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Prefect server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_deploy_and_run_ingest_on_a_worker(prefect_server: dict[str, str], fresh_pg_url: str, tmp_path: Path) -> None:
    from kyc.demo.generate import generate_demo
    from kyc.settings import get_settings
    from kyc.storage.local import LocalStore

    shared = get_settings().shared_data_dir
    if not (shared / "faces").is_dir():
        pytest.skip("../shared/data not present")
    generated = LocalStore(tmp_path / "generated")
    cases = [c for c in generate_demo(generated, shared) if c.kind in {"genuine", "impostor"}][:3]
    landing = LocalStore(tmp_path / "landing")
    for case in cases:
        for obj in generated.list(f"incoming/{case.application_id}/"):
            landing.put(obj.key, generated.get(obj.key))

    env = dict(prefect_server)
    env.update(
        KYC_PROJECT_DIR=str(PROJECT_ROOT),
        KYC_DATABASE_URL=fresh_pg_url,
        KYC_LIVENESS_POLICY="record",
    )
    prefect = str(BIN / "prefect")
    _run([prefect, "work-pool", "create", "kyc-process", "--type", "process"], env)
    _run([prefect, "--no-prompt", "deploy", "--all"], env)
    listing = _run([prefect, "deployment", "ls"], env)
    assert "ingest-landing" in listing and "process-application" in listing

    _run(
        [prefect, "deployment", "run", "ingest-landing/ingest-landing",
         "--param", f"landing={tmp_path / 'landing'}"],
        env,
    )
    # One polling pass picks the scheduled run up and executes it to completion.
    _run([prefect, "worker", "start", "--pool", "kyc-process", "--run-once"], env, timeout=600)

    engine = sa.create_engine(fresh_pg_url)
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(sa.text("select application_id, decision::text from kyc_decisions")).all())
    finally:
        engine.dispose()
    assert rows == {c.application_id: c.expected for c in cases}, json.dumps(rows)
