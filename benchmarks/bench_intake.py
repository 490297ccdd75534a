"""Intake API latency: ``POST /v1/applications`` with a 2 MB JPEG, excluding the decision.

A real ``kyc serve`` (uvicorn, in its own process) on a free loopback port with
``KYC_INTAKE_PROCESS=event`` (nothing decides in the web process; no watcher runs
either, so nothing else competes for the CPU), a fresh embedded PostgreSQL (or
``--database-url``) and a fresh landing folder. An API key is made with
``kyc api-keys create`` as an operator would. Then N uploads, one after another on
one keep-alive connection, each a new application (the server names it): a ~2 MB
JPEG licence front (seeded noise: it does not compress), a ~100 kB selfie and the
form. Each is timed from the first byte sent to the 202 read back, which covers
streaming the multipart body with its limits, sniffing, the header checks, the
landing writes (fsync'd) and the registration transaction. Five warm-up uploads are
not counted. Prints p50/p95/max; target: p50 under 150 ms. Not a test: figures depend
on the machine and its load.

    .venv/bin/python benchmarks/bench_intake.py --n 200 [--json-out PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P50_MS = 150.0
WARMUP = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def noise_jpeg(target_bytes: int, seed: int = 13) -> bytes:
    """A JPEG of about ``target_bytes`` (noise does not compress: size follows pixels)."""
    rng = np.random.default_rng(seed)
    side = 1200
    for _ in range(8):
        pixels = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", quality=85)
        data = out.getvalue()
        if abs(len(data) - target_bytes) < target_bytes * 0.05:
            return data
        side = int(side * (target_bytes / len(data)) ** 0.5)
    return data


def _form() -> str:
    return json.dumps(
        {
            "email": "bench@example.org",
            "first_name": "Bench",
            "last_name": "Mark",
            "date_of_birth": "1990-01-01",
            "address": {
                "line1": "1 Test St",
                "city": "Leeds",
                "region": "",
                "postal_code": "LS1 1AA",
                "country": "GB",
            },
            "document": {
                "type": "driving_licence",
                "number": "BENCH123",
                "issuing_country": "GB",
                "expiry_date": "2035-01-01",
            },
            "registration": {"type": "NONE", "number": None},
        }
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50": pick(0.50),
        "p95": pick(0.95),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def _env(workdir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYC_")}
    env.update(
        KYC_LANDING=str(workdir / "landing"),
        KYC_EMBEDDED_PG_DIR=str(workdir / "pgdata"),
        KYC_INTAKE_PROCESS="event",
        # Sequential uploads as fast as they go: the per-key rate limit is not measured.
        KYC_INTAKE_RATE_PER_MINUTE="1000000",
        KYC_WEB_SECURE_COOKIES="false",
        PYTHONPATH=str(ROOT),
    )
    if database_url:
        env["KYC_DATABASE_URL"] = database_url
    return env


def run(n: int, database_url: str | None, workdir: Path) -> dict[str, Any]:
    env = _env(workdir, database_url)
    port = _free_port()
    kyc = [sys.executable, "-m", "kyc.cli"]
    log = (workdir / "serve.log").open("w")
    server = subprocess.Popen(
        [*kyc, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"kyc serve did not start; see {workdir / 'serve.log'}")
            time.sleep(0.2)
        key = subprocess.run(
            [*kyc, "api-keys", "create", "--name", "bench"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()

        front = noise_jpeg(2 * 1024 * 1024)
        selfie = noise_jpeg(100 * 1024, seed=14)
        form = _form()
        parts = [
            ("application", ("application.json", form, "application/json")),
            ("id_document", ("front.jpg", front, "image/jpeg")),
            ("selfie", ("selfie.jpg", selfie, "image/jpeg")),
        ]
        body_bytes = len(httpx.Request("POST", base, files=parts).read())
        latencies: list[float] = []
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            for i in range(WARMUP + n):
                started = time.perf_counter()
                r = client.post("/v1/applications", files=parts)
                elapsed = (time.perf_counter() - started) * 1000
                if r.status_code != 202:
                    raise SystemExit(f"upload {i}: {r.status_code} {r.text[:300]}")
                if i >= WARMUP:
                    latencies.append(elapsed)
            status = []
            for _ in range(50):
                started = time.perf_counter()
                client.get(r.json()["status_url"]).raise_for_status()
                status.append((time.perf_counter() - started) * 1000)
        landed = sum(1 for _ in (workdir / "landing" / "incoming").glob("*/application.json"))
        return {
            "n": n,
            "front_bytes": len(front),
            "body_bytes": body_bytes,
            "upload_ms": _percentiles(latencies),
            "status_ms": _percentiles(status),
            "landed": landed,
            "latencies_ms": latencies,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--database-url", help="an external PostgreSQL (default: embedded)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args()
    var = ROOT / "var"
    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-", dir=var if var.is_dir() else None))
    try:
        result = run(args.n, args.database_url, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    up, st = result["upload_ms"], result["status_ms"]
    print(
        f"intake API, {result['n']} sequential uploads of {result['body_bytes'] / 1e6:.2f} MB "
        f"(licence front {result['front_bytes'] / 1e6:.2f} MB JPEG), decision excluded "
        f"(KYC_INTAKE_PROCESS=event); {result['landed'] - WARMUP} landed + {WARMUP} warm-up"
    )
    print(f"{'':28} {'p50':>8} {'p95':>8} {'max':>8} {'mean':>8}")
    for label, row in (("POST /v1/applications (ms)", up), ("GET status (ms, n=50)", st)):
        print(
            f"{label:28} {row['p50']:8.1f} {row['p95']:8.1f} {row['max']:8.1f} {row['mean']:8.1f}"
        )
    verdict = "met" if up["p50"] < TARGET_P50_MS else "MISSED"
    print(f"target p50 < {TARGET_P50_MS:.0f} ms: {verdict}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
