"""Scale-out benchmark: one batch fanned out to 1, 2 and 4 warm workers on one Prefect server.

``make bench-scale`` (``N=40`` applications per configuration by default) starts, in
a fresh working folder under ``var/bench-scale/``:

* PostgreSQL: a fresh embedded server (or ``--database-url``), the pipeline's
  database and Prefect's beside it;
* one Prefect server (``prefect server start``, scheduler off) on that PostgreSQL,
  the ``kyc-process`` pool and the ``process-chunk`` deployment;
* four warm workers (deployments/warm_worker.py), each pinned to one core with
  ``taskset`` (worker i on core i mod cores) so that "one worker" means one core.

Every configuration W gets its own landing of N generated applications
(kyc.demo.batch; not timed) and runs ``ingest_landing(fanout_chunk=--chunk)`` in
this process as the coordinator while only W workers run (the others are stopped
with SIGSTOP, so all four are warmed up once). Per configuration it prints
throughput, the speed-up over one worker, efficiency per core (speed-up ÷ cores the
workers can use), and CPU seconds per application of the workers (their engine
worker processes included), the API server, PostgreSQL (embedded only) and this
coordinator. The knee is the last W before a configuration that gains less than
10 % over it. Target (issue 15): 2 workers on 2 cores >= 1.7 x one worker on one
core; missing it prints TARGET MISSED and exits 0. An application that is not
DECIDED exits 1.

This is a script, not a test: it is run by hand or by ``make bench-scale``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPEEDUP_TARGET = 1.7
KNEE_GAIN = 0.10


def _log(msg: str) -> None:
    sys.stderr.write(f"[bench-scale] {msg}\n")
    sys.stderr.flush()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and their live descendants."""
    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    return total


@dataclass
class Result:
    """One configuration's figures."""

    workers: int
    cores: int
    n: int
    wall_s: float
    cpu: dict[str, float]
    statuses: dict[str, int]

    @property
    def per_minute(self) -> float:
        """Applications per minute."""
        return 60.0 * self.n / self.wall_s


class Stack:
    """PostgreSQL, the Prefect server and the warm workers of the benchmark."""

    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.workdir = workdir
        self.args = args
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.postmaster: int | None = None
        self.env: dict[str, str] = {}
        self.dropped: list[str] = []

    def start(self) -> None:
        """Everything up and warm; sets the environment this process runs flows with."""
        from kyc.db.engine import (
            asyncpg_url,
            embedded_database_url,
            ensure_database,
            url_for_database,
        )

        if self.args.database_url:
            kyc_url = self.args.database_url
            suffix = uuid.uuid4().hex[:8]
            kyc_url = ensure_database(url_for_database(kyc_url, f"kyc_bench_{suffix}"))
            prefect_url = ensure_database(url_for_database(kyc_url, f"prefect_bench_{suffix}"))
            self.dropped = [kyc_url, prefect_url]
        else:
            pgdata = self.workdir / "pgdata"
            kyc_url = embedded_database_url(pgdata)
            prefect_url = embedded_database_url(pgdata, "prefect")
            self.postmaster = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "KYC_"))}
        env.update(
            PYTHONPATH=str(PROJECT_ROOT),
            PREFECT_HOME=str(self.workdir / "prefect-home"),
            PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_UI_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
            PREFECT_SERVER_DATABASE_CONNECTION_URL=asyncpg_url(prefect_url),
            GX_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            KYC_PROJECT_DIR=str(PROJECT_ROOT),
            KYC_DATABASE_URL=kyc_url,
            KYC_LIVENESS_POLICY="record",
            KYC_CONCURRENCY=str(self.args.concurrency),
            KYC_WORKER_POLL_SECONDS="0.5",
            KYC_FANOUT_POLL_SECONDS="0.5",
            KYC_SHARED_DATA_DIR=os.environ.get(
                "KYC_SHARED_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "data")
            ),
        )
        self.env = env
        os.environ.update(env)
        _log(f"Prefect server on 127.0.0.1:{port} (PostgreSQL)")
        self.server = self._spawn(
            "server",
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        )
        self._wait_health(f"http://127.0.0.1:{port}/api/health")
        prefect = str(BIN / "prefect")
        self._run([prefect, "work-pool", "create", "kyc-process", "--type", "process"])
        self._run([prefect, "--no-prompt", "deploy", "--name", "process-chunk"])
        cores = sorted(os.sched_getaffinity(0))
        pin = shutil.which("taskset")
        if pin is None:
            _log("taskset not found: workers are not pinned to cores")
        for i in range(max(self.args.configs)):
            command = [
                sys.executable, "-m", "deployments.warm_worker", "--pool", "kyc-process",
                "--concurrency", str(self.args.runs_per_worker),
            ]  # fmt: skip
            if pin is not None:
                command = [pin, "-c", str(cores[i % len(cores)]), *command]
            self.workers.append(self._spawn(f"worker-{i + 1}", command))
        deadline = time.monotonic() + 600
        for i in range(len(self.workers)):
            log = self.workdir / f"worker-{i + 1}.log"
            while "warm worker ready" not in log.read_text(errors="replace"):
                if self.workers[i].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {i + 1} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.5)
        _log(f"{len(self.workers)} warm workers ready")

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{name}.log").open("wb")
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(
            command, cwd=PROJECT_ROOT, env=self.env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command}: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def _wait_health(self, url: str) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the Prefect server did not start")

    def only(self, active: int) -> None:
        """Let the first ``active`` workers run; stop the others (SIGSTOP, whole group)."""
        for i, worker in enumerate(self.workers):
            os.killpg(worker.pid, signal.SIGCONT if i < active else signal.SIGSTOP)

    def cpu(self, active: int) -> dict[str, float]:
        """CPU seconds so far, by process group."""
        assert self.server is not None
        figures = {
            "workers": _tree_cpu([w.pid for w in self.workers[:active]]),
            "api_server": _tree_cpu([self.server.pid]),
            # This process alone: the embedded PostgreSQL may be its child.
            "coordinator": sum(psutil.Process().cpu_times()[:2]),
        }
        if self.postmaster is not None:
            figures["postgres"] = _tree_cpu([self.postmaster])
        return figures

    def stop(self) -> None:
        """Stop the workers and the server (PostgreSQL stops when this process exits)."""
        for proc in [*self.workers, *([self.server] if self.server else [])]:
            try:
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in [*self.workers, *([self.server] if self.server else [])]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.dropped:
            import psycopg2
            from psycopg2 import sql
            from sqlalchemy.engine import make_url

            admin = make_url(self.dropped[0]).set(drivername="postgresql", database="postgres")
            conn = psycopg2.connect(admin.render_as_string(hide_password=False))
            conn.autocommit = True
            with conn.cursor() as cur:
                for url in self.dropped:
                    name = make_url(url).database
                    cur.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
            conn.close()


def run_config(stack: Stack, landing: Path, workers: int, n: int, chunk: int) -> Result:
    """One configuration: ``workers`` workers decide the landing's ``n`` applications."""
    from flows.ingest import ingest_landing

    stack.only(workers)
    time.sleep(1.0)  # the resumed workers poll again
    before = stack.cpu(workers)
    started = time.perf_counter()
    outcomes = ingest_landing(str(landing), fanout_chunk=chunk)
    wall = time.perf_counter() - started
    after = stack.cpu(workers)
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[o.status.value] = statuses.get(o.status.value, 0) + 1
    cores = min(workers, len(os.sched_getaffinity(0)))
    cpu = {k: round(after[k] - before[k], 3) for k in after}
    return Result(workers, cores, n, wall, cpu, statuses)


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/bench_scale.py [--n 40] [--configs 1,2,4]``."""
    parser = argparse.ArgumentParser(prog="bench_scale.py", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="applications per configuration")
    parser.add_argument(
        "--configs", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4]
    )
    parser.add_argument("--chunk", type=int, default=10, help="applications per chunk run")
    parser.add_argument("--concurrency", type=int, default=4, help="applications at once per chunk")
    parser.add_argument("--runs-per-worker", type=int, default=1, help="chunk runs at once")
    parser.add_argument("--database-url", default=None, help="external PostgreSQL (admin URL)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    workdir = args.workdir or PROJECT_ROOT / "var" / "bench-scale" / uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(workdir / "prefect-home")  # before Prefect is imported

    from kyc.demo.batch import generate_applications
    from kyc.storage.local import LocalStore

    shared = Path(os.environ.get("KYC_SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
    if not (shared / "faces").is_dir():
        _log(f"face photos not found in {shared}/faces (set KYC_SHARED_DATA_DIR)")
        return 2
    run_id = uuid.uuid4().hex[:6]
    _log(f"working folder {workdir}; generating {args.n} applications per configuration")
    landings = {}
    for i, w in enumerate(["warm", *args.configs]):
        landing = workdir / f"landing-{w}"
        count = 2 * max(args.configs) if w == "warm" else args.n
        generate_applications(
            LocalStore(landing), shared, count, run_id=f"{run_id}{w}", seed=args.seed + i
        )
        landings[w] = landing
    stack = Stack(workdir, args)
    results: list[Result] = []
    loadavg = [round(x, 2) for x in os.getloadavg()]
    try:
        stack.start()
        # Every worker decides one application first (models, GX, connections warm).
        run_config(stack, landings["warm"], max(args.configs), 2 * max(args.configs), 1)
        for w in args.configs:
            result = run_config(stack, landings[w], w, args.n, args.chunk)
            _log(
                f"{w} worker(s): {result.per_minute:.1f} applications/min"
                f" ({result.wall_s:.1f} s), {result.statuses}"
            )
            results.append(result)
    finally:
        stack.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report(results, args, loadavg)


def report(results: list[Result], args: argparse.Namespace, loadavg: list[float]) -> int:
    """Print the table; the exit status (1: an application was not DECIDED)."""
    base = next((r for r in results if r.workers == 1), results[0])
    ncpu = len(os.sched_getaffinity(0))
    print(f"\nbench-scale: {args.n} applications per configuration, chunks of {args.chunk},")
    print(
        f"{args.runs_per_worker} chunk runs x {args.concurrency} applications at once per worker;"
        f" {ncpu} cores, load average at start {loadavg}, {platform.python_version()}"
    )
    header = (
        f"{'workers':>7} {'apps/min':>9} {'speed-up':>8} {'eff/core':>8} "
        f"{'CPU s/app: workers':>18} {'API':>6} {'PG':>6} {'coord':>6}"
    )
    print(header)
    rows = []
    knee = None
    previous: tuple[int, float] | None = None
    for r in results:
        speedup = r.per_minute / base.per_minute
        eff = speedup / r.cores
        per_app = {k: v / r.n for k, v in r.cpu.items()}
        print(
            f"{r.workers:>7} {r.per_minute:>9.1f} {speedup:>8.2f} {eff:>8.2f} "
            f"{per_app['workers']:>18.3f} {per_app['api_server']:>6.3f} "
            f"{per_app.get('postgres', float('nan')):>6.3f} {per_app['coordinator']:>6.3f}"
        )
        if knee is None and previous is not None and r.per_minute < previous[1] * (1 + KNEE_GAIN):
            knee = previous[0]
        previous = (r.workers, r.per_minute)
        rows.append(
            {
                "workers": r.workers,
                "cores": r.cores,
                "n": r.n,
                "wall_s": round(r.wall_s, 2),
                "applications_per_minute": round(r.per_minute, 1),
                "speedup": round(speedup, 3),
                "efficiency_per_core": round(eff, 3),
                "cpu_s_per_application": {k: round(v, 3) for k, v in per_app.items()},
                "statuses": r.statuses,
            }
        )
    print(
        f"knee: {f'{knee} workers' if knee else 'not reached'}"
        " (the next configuration gains < 10 %)"
    )
    two = next((r for r in results if r.workers == 2), None)
    if two is not None and ncpu >= 2:
        speedup = two.per_minute / base.per_minute
        verdict = "met" if speedup >= SPEEDUP_TARGET else "TARGET MISSED"
        print(f"target: 2 workers >= {SPEEDUP_TARGET}x one worker: {speedup:.2f}x — {verdict}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps({"results": rows, "knee": knee}, indent=2) + "\n")
    bad = [r for r in results if set(r.statuses) != {"DECIDED"}]
    if bad:
        print(f"NOT ALL DECIDED: {[(r.workers, r.statuses) for r in bad]}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
