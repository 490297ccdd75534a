"""Register checks: what the cache saves, and what a slow register costs an application.

Measures, against a fresh embedded PostgreSQL and a register search site on loopback
(the test suite's RegisterSite, pages we wrote):

1. ``RegisterChecker.check`` on a cache miss (one HTTP look-up, parse, cache write)
   and on a cache hit (one database read), N times each;
2. the snapshot client (one indexed read of the loaded extract);
3. with a register that answers after ``--register-delay`` seconds: the time of the
   register check alone, and of the face match alone, against the two run side by
   side as the pipeline does (thread beside the face match in batch mode).

Run: ``make bench-registers`` (or ``.venv/bin/python benchmarks/bench_registers.py``).
Figures depend on the machine and its load; they are not tests.
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "median_ms": round(statistics.median(values) * 1000, 2),
        "p95_ms": round(values[int(0.95 * (len(values) - 1))] * 1000, 2),
    }


def main() -> int:
    """Run the benchmark and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="look-ups per measurement")
    parser.add_argument("--register-delay", type=float, default=0.5)
    args = parser.parse_args()

    import sqlalchemy as sa

    from kyc.clients.http import RetryPolicy
    from kyc.db.engine import embedded_database_url, upgrade
    from kyc.engines.register_http import HttpRegisterClient
    from kyc.engines.register_snapshot import SnapshotRegisterClient, load_extract
    from kyc.services.registers import RegisterChecker
    from kyc.settings import get_settings
    from tests.fixtures.registers import RegisterSite, register_site

    (ROOT / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-registers-", dir=ROOT / "var"))
    # Registered before the embedded server starts: atexit runs last-in first-out,
    # so the wheel's own hook stops the server first, then the folder goes.
    atexit.register(shutil.rmtree, work, True)
    out: dict[str, object] = {"n": args.n}
    url = embedded_database_url(work / "pgdata")
    upgrade(url)
    engine = sa.create_engine(url)
    numbers = [f"7{i:06d}" for i in range(args.n)]
    site = RegisterSite(
        entries={
            ("GMC", n): {"name": "Demo Doctor", "number": n, "status": "Registered"}
            for n in numbers
        }
    )
    with register_site(site) as base:
        client = HttpRegisterClient(
            site.urls(base), timeout=5, rate_per_second=10_000, policy=RetryPolicy(retries=0)
        )
        checker = RegisterChecker(client, lambda: engine, ttl_seconds=3600)
        miss, hit = [], []
        for n in numbers:
            t0 = time.perf_counter()
            checker.check("GMC", n)
            miss.append(time.perf_counter() - t0)
        for n in numbers:
            t0 = time.perf_counter()
            checker.check("GMC", n)
            hit.append(time.perf_counter() - t0)
        out["http_cache_miss"] = _ms(miss)
        out["http_cache_hit"] = _ms(hit)
        out["register_requests"] = len(site.requests)

    extract = work / "extract.csv"
    extract.write_text(
        "register,number,name,status,conditions,snapshot_date\n"
        + "".join(f"GMC,{n},Demo Doctor,Registered,,2026-11-01\n" for n in numbers)
    )
    load_extract(engine, extract)
    snap = SnapshotRegisterClient(lambda: engine)
    times = []
    for n in numbers:
        t0 = time.perf_counter()
        snap.lookup("GMC", n)
        times.append(time.perf_counter() - t0)
    out["snapshot_lookup"] = _ms(times)

    # A slow register beside the face match (as in the pipeline) vs one after another.
    shared = get_settings().shared_data_dir / "faces"
    pair = sorted((shared / "facerec_obama").glob("*.jpg"))[:2]
    if len(pair) == 2:
        from kyc.engines.face_local import DlibFaceMatcher

        matcher = DlibFaceMatcher()
        a, b = pair[0].read_bytes(), pair[1].read_bytes()
        matcher.compare(a, b)  # warm up
        slow = RegisterSite(
            entries={("GMC", "7123456"): {"name": "X", "number": "7123456", "status": "Registered"}}
        )
        with register_site(slow) as base:
            slow_client = HttpRegisterClient(slow.urls(base), timeout=30, rate_per_second=10_000)

            def reg() -> None:
                slow.failures[("GMC", "7123456")] = [("slow", args.register_delay)]
                slow_client.lookup("GMC", "7123456")

            def face() -> None:
                matcher.compare(a, b)

            t0 = time.perf_counter()
            reg()
            t_reg = time.perf_counter() - t0
            t0 = time.perf_counter()
            face()
            t_face = time.perf_counter() - t0
            with ThreadPoolExecutor(max_workers=1) as pool:
                t0 = time.perf_counter()
                fut = pool.submit(reg)
                face()
                fut.result()
                t_both = time.perf_counter() - t0
        out["side_by_side"] = {
            "register_alone_s": round(t_reg, 3),
            "face_match_alone_s": round(t_face, 3),
            "both_in_parallel_s": round(t_both, 3),
            "sequential_would_be_s": round(t_reg + t_face, 3),
        }
    engine.dispose()
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
