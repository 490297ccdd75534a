"""The README's commands as a user runs them: `kyc demo`, `kyc decisions --json`.

Each runs in a subprocess with Prefect's ephemeral API (a fresh PREFECT_HOME) and
the session's test database, exactly as `make demo` does apart from the database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

KYC = [sys.executable, "-m", "kyc.cli"]


def _env(pg_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "PREFECT_"))}
    env.update(
        KYC_DATABASE_URL=pg_url,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        COLUMNS="200",
    )
    return env


def test_demo_then_decisions_json(fresh_pg_url: str, tmp_path: Path) -> None:
    from kyc.settings import get_settings

    if not (get_settings().shared_data_dir / "faces").is_dir():
        pytest.skip("../shared/data not present")
    env = _env(fresh_pg_url, tmp_path)
    landing = tmp_path / "demo"
    demo = subprocess.run(
        [*KYC, "demo", "--landing", str(landing)], env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    cases = json.loads((landing / "expected.json").read_text())
    assert f"all {len(cases)} applications got the expected outcome" in demo.stderr
    assert "liveness policy: record" in demo.stderr
    assert "fictional demo register entries loaded" in demo.stderr
    # The console's demo accounts, and their password printed once: it logs in.
    import re

    from kyc.runtime import Runtime
    from kyc.services.accounts import LoginLimiter, verify_login
    from kyc.settings import Settings

    printed = re.search(r"demo-reviewer.*demo-approver.*password: (\S+) \(shown once", demo.stderr.replace("\n", " "))
    assert printed, demo.stderr[-2000:]
    rt = Runtime(Settings(database_url=fresh_pg_url))
    try:
        for username in ("demo-reviewer", "demo-approver"):
            assert verify_login(rt, LoginLimiter(5, 60), username, printed.group(1), "127.0.0.1").username == username
    finally:
        rt.close()
    for word in ("PASS", "FAIL", "MANUAL_REVIEW", "FACE_MISMATCH", "DOCUMENT_EXPIRED", "DOB_MISMATCH",
                 "LIVENESS_FAILED", "DUPLICATE_IDENTITY", "REGISTER_CONDITIONS", "REGISTER_NOT_ACTIVE"):
        assert word in demo.stdout

    out = subprocess.run(
        [*KYC, "decisions", "--json"], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    lines = [json.loads(line) for line in out.splitlines()]
    expected = json.loads((landing / "expected.json").read_text())
    decided = {c["application_id"]: c["expected"] for c in expected if c["expected"] in {"PASS", "FAIL", "MANUAL_REVIEW"}}
    assert {r["application_id"]: r["decision"] for r in lines} == decided
    for record in lines:
        assert {"application_id", "decision", "reasons", "scores", "engines", "decided_at", "duplicate_of"} <= record.keys()
        assert record["decided_at"].endswith("+00:00")

    dead = subprocess.run(
        [*KYC, "dead-letters", "--json"], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert [json.loads(x)["error_code"] for x in dead.splitlines()] == ["APPLICATION_INVALID"]


def test_ingest_on_an_empty_landing_decides_nothing(fresh_pg_url: str, tmp_path: Path) -> None:
    env = _env(fresh_pg_url, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    run = subprocess.run([*KYC, "ingest", str(empty), "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout == ""


def test_register_check_cli_on_the_demo_snapshot(fresh_pg_url: str, tmp_path: Path) -> None:
    env = _env(fresh_pg_url, tmp_path)
    from kyc.demo.registers import DEMO_REGISTER_SNAPSHOT

    load = subprocess.run([*KYC, "register-load", str(DEMO_REGISTER_SNAPSHOT)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert load.returncode == 0, load.stderr[-2000:]
    assert "loaded 8 register entries" in load.stderr

    def check(*args: str) -> tuple[int, dict]:
        run = subprocess.run([*KYC, "register-check", *args, "--json"], env=env, capture_output=True,
                             text=True, timeout=120)
        return run.returncode, json.loads(run.stdout) if run.stdout else {"stderr": run.stderr}

    code, rec = check("--type", "GMC", "--number", "7123456", "--name", "Noah Walker")
    assert code == 0 and rec["decision"] == "PASS" and rec["matched_status"].startswith("Registered")
    assert rec["snapshot_date"] == "2026-11-01" and rec["source"] == "register-snapshot"
    code, rec = check("--type", "GPC", "--number", "2999001", "--name", "Arthur Evans")
    assert code == 1 and rec["decision"] == "FAIL" and rec["register"] == "GPHC"
    assert [f["code"] for f in rec["findings"]] == ["REGISTER_NOT_ACTIVE"]
    # (conditions, not found and name mismatches: tests/domain and tests/engines)
    code, rec = check("--type", "GMC", "--number", "71234", "--name", "Noah Walker")
    assert rec["outcome"] == "NUMBER_INVALID" and rec["findings"][0]["code"] == "REGISTER_NUMBER_INVALID"
