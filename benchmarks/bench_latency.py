"""Latency of the event-driven path: last object landed → decision row in PostgreSQL.

Starts a private copy of the `make up` stack (Prefect server on a free port with
SQLite in a temp dir, a fresh embedded PostgreSQL, the worker and the folder
watcher; nothing is shared with a running `make up`), then lands N demo
applications one at a time, object by object, the selfie last, and measures from
the moment the last object is in place until the decision row is visible.

    python benchmarks/bench_latency.py --n 20 [--poll 1] [--worker warm|process]

Target (issue 6): p50 <= 5 s on the reference 2-core machine with a 1-2 s poll.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    """Run the benchmark and print the figures (JSON on the last line)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--poll", type=float, default=1.0, help="worker poll interval, s")
    parser.add_argument("--worker", choices=["warm", "process"], default="warm")
    parser.add_argument("--timeout", type=float, default=180.0, help="per application, s")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kyc-bench-latency-"))
    landing = tmp / "landing"
    landing.mkdir()
    os.environ.update(
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_LOGGING_LEVEL="WARNING",
        # No scheduled sweeps during the measurement.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        KYC_LANDING=str(landing),
        KYC_EMBEDDED_PG_DIR=str(tmp / "pgdata"),
        # make up's web app too, on a free port (8000 may be taken on a shared machine).
        KYC_WEB_PORT=str(_free_port()),
        KYC_LIVENESS_POLICY="record",
        KYC_WORKER=args.worker,
        KYC_WORKER_POLL_SECONDS=str(args.poll),
    )
    os.environ.pop("KYC_DATABASE_URL", None)
    os.environ.pop("KYC_SQS_QUEUE_URL", None)

    import sqlalchemy as sa

    from deployments import local
    from kyc.db.engine import embedded_database_url
    from kyc.demo.generate import generate_demo
    from kyc.settings import get_settings
    from kyc.storage.local import LocalStore

    get_settings.cache_clear()
    settings = get_settings()
    generated = LocalStore(tmp / "generated")
    cases = generate_demo(generated, settings.shared_data_dir)
    cases = [c for c in cases if c.expected in {"PASS", "FAIL", "MANUAL_REVIEW"}]
    cases = (cases * (args.n // max(len(cases), 1) + 1))[: args.n]

    run_dir = tmp / "run"
    started = time.perf_counter()
    url = local.up(port=_free_port(), run_dir=run_dir, log=True)
    sys.stderr.write(f"stack up in {time.perf_counter() - started:.1f} s ({url})\n")
    engine = sa.create_engine(embedded_database_url(settings.embedded_pg_dir))
    latencies: list[float] = []
    failures: list[str] = []
    try:
        # Let the worker finish warming up (it is ready before the first landing).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            log = (run_dir / "worker.log").read_text(errors="replace")
            if args.worker == "process" or "warm worker ready" in log:
                break
            time.sleep(0.5)
        time.sleep(2 * args.poll + 1)  # the watcher's baseline scan is done
        store = LocalStore(landing)
        for i, case in enumerate(cases):
            app_id = f"lat-{i:03d}-{case.application_id}"
            objects = sorted(
                generated.list(f"incoming/{case.application_id}/"),
                key=lambda o: ("selfie" in o.key, o.key),  # the selfie lands last
            )
            for obj in objects:
                name = obj.key.rsplit("/", 1)[1]
                data = generated.get(obj.key)
                if name == "application.json":
                    form = json.loads(data)
                    form["application_id"] = app_id
                    data = json.dumps(form).encode()
                store.put(f"incoming/{app_id}/{name}", data)
                time.sleep(0.05)
            landed = time.perf_counter()
            while True:
                with engine.connect() as conn:
                    found = conn.execute(
                        sa.text("select 1 from kyc_decisions where application_id = :a"),
                        {"a": app_id},
                    ).first()
                if found:
                    latencies.append(time.perf_counter() - landed)
                    break
                if time.perf_counter() - landed > args.timeout:
                    failures.append(app_id)
                    break
                time.sleep(0.05)
            sys.stderr.write(f"{app_id}: {latencies[-1] if found else float('nan'):.2f} s\n")
    finally:
        engine.dispose()
        local.down(run_dir, log=False)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "n": len(latencies),
        "timed_out": failures,
        "worker": args.worker,
        "poll_seconds": args.poll,
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "target_p50_s": 5.0,
    }
    print(json.dumps(result))
    return 0 if latencies and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
