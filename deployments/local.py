"""`make up` / `make down`: the whole pipeline as a local service.

``up`` starts, in order, each in its own process group with a pid file and a log
under ``var/run/``:

1. the embedded PostgreSQL holder (only when KYC_DATABASE_URL is empty): one
   process that keeps the embedded server up, so flow runs join it instead of
   starting and stopping it once each;
2. the web app (``kyc serve``: review console and intake API) on KYC_WEB_HOST:
   KYC_WEB_PORT (127.0.0.1:8000 by default);
3. a Prefect server on KYC_PREFECT_HOST (127.0.0.1 by default; anything else needs
   KYC_PREFECT_AUTH_STRING outside development, see :func:`prefect_exposure_problem`)
   on PostgreSQL: the database ``prefect`` beside the
   pipeline's (on KYC_DATABASE_URL's server, or the embedded one; created if
   missing), or the one KYC_PREFECT_DATABASE_URL names; Prefect's SQLite file under
   ``var/prefect`` only with KYC_PREFECT_DATABASE=sqlite;
4. then creates the ``kyc-process`` work pool and runs ``prefect deploy --all``;
5. KYC_WORKERS workers for the pool (``worker``, ``worker-2``, ...), polling every
   KYC_WORKER_POLL_SECONDS: the warm in-process worker (deployments/warm_worker.py)
   or, with KYC_WORKER=process, Prefect's process worker;
6. the event bridge: ``kyc bridge --sqs-queue-url`` when KYC_SQS_QUEUE_URL is set,
   else ``kyc bridge --watch`` on the KYC_LANDING folder.

``down`` stops exactly those processes (and their children), newest first, checking
each pid still belongs to the process that was started (pid reuse).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kyc.settings import PROJECT_ROOT, Settings, basic_authorization, get_settings

BIN = Path(sys.executable).parent
RUN_DIR = PROJECT_ROOT / "var" / "run"
#: Start order; ``down`` stops in the reverse order. "worker" stands for every worker
#: (``worker``, ``worker-2``, ... with KYC_WORKERS > 1).
SERVICES = ("database", "web", "server", "worker", "bridge")
POOL = "kyc-process"


class UpError(RuntimeError):
    """A service did not start; what was started is stopped again."""


@dataclass(frozen=True, slots=True)
class Addresses:
    """Where the started stack answers."""

    prefect_ui: str
    console: str


@dataclass(frozen=True, slots=True)
class Started:
    """A pid file's content."""

    name: str
    pid: int
    started_at: float  # the process's create time, to detect pid reuse
    command: list[str]


def _pid_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.pid"


def worker_name(n: int) -> str:
    """The service name of the n-th worker (1-based): ``worker``, ``worker-2``, ..."""
    return "worker" if n == 1 else f"worker-{n}"


def service_names(run_dir: Path) -> list[str]:
    """Every service with a pid file in ``run_dir``, in start order."""
    names: list[str] = []
    for name in SERVICES:
        if name == "worker":
            extra = sorted(
                (p.stem for p in run_dir.glob("worker-*.pid")),
                key=lambda n: int(n.rpartition("-")[2]) if n.rpartition("-")[2].isdigit() else 0,
            )
            names += ["worker", *extra]
        else:
            names.append(name)
    return names


def read_started(run_dir: Path, name: str) -> Started | None:
    """The recorded process of a service, if a pid file exists."""
    path = _pid_file(run_dir, name)
    try:
        data = json.loads(path.read_text())
        return Started(name, int(data["pid"]), float(data["started_at"]), list(data["command"]))
    except (OSError, ValueError, KeyError):
        return None


def is_running(started: Started) -> bool:
    """True when the recorded pid is alive and is still the process we started."""
    import psutil

    try:
        proc = psutil.Process(started.pid)
        return abs(proc.create_time() - started.started_at) < 1.0 and proc.status() not in (
            psutil.STATUS_ZOMBIE,
            psutil.STATUS_DEAD,
        )
    except psutil.Error:
        return False


def stack_env(
    settings: Settings, port: int, prefect_database_url: str | None = None
) -> dict[str, str]:
    """The environment every service of the stack runs with.

    With KYC_PREFECT_AUTH_STRING, every Prefect client of the stack (workers, the
    bridge, ``prefect deploy``, the web app) sends it (PREFECT_API_AUTH_STRING); the
    server's own setting is added by :func:`server_env` only.

    Args:
        settings: the stack's settings.
        port: the Prefect server's port.
        prefect_database_url: the Prefect server's PostgreSQL (see
            :func:`kyc.db.engine.prefect_database_url`); KYC_PREFECT_DATABASE_URL when
            not given; neither: Prefect's SQLite file.
    """
    env = dict(os.environ)
    env.update(
        PREFECT_HOME=env.get("PREFECT_HOME", str(PROJECT_ROOT / "var" / "prefect")),
        PREFECT_API_URL=f"{prefect_url(settings, port)}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="false",
        KYC_PROJECT_DIR=str(PROJECT_ROOT),
        PREFECT_WORKER_QUERY_SECONDS=str(settings.worker_poll_seconds),
        PREFECT_RUNNER_POLL_FREQUENCY=str(max(1, int(settings.worker_poll_seconds))),
    )
    # Whatever the caller's environment says, the stack's clients use this server's
    # credential (or none): a stale PREFECT_API_AUTH_STRING would only get 401s.
    env.pop("PREFECT_API_AUTH_STRING", None)
    env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    if settings.prefect_auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = settings.prefect_auth_string.get_secret_value()
    if prefect_database_url is None and settings.prefect_database_url is not None:
        prefect_database_url = settings.prefect_database_url.get_secret_value()
    if prefect_database_url is not None:
        from kyc.db.engine import asyncpg_url, normalise_url

        # Prefect's server talks asyncpg; ours psycopg2 (same server, other driver).
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = asyncpg_url(
            normalise_url(prefect_database_url)
        )
    return env


#: Loopback addresses: a console bound to one of these is reachable from this machine only.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def server_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The Prefect server's environment: the stack's, plus the credential it requires.

    Prefect's server checks PREFECT_SERVER_API_AUTH_STRING (HTTP basic auth) on every
    API request except ``GET /api/health`` and ``GET /api/ready``.
    """
    server = dict(env)
    if settings.prefect_auth_string is not None:
        server["PREFECT_SERVER_API_AUTH_STRING"] = settings.prefect_auth_string.get_secret_value()
    return server


def prefect_exposure_problem(settings: Settings) -> str | None:
    """Why ``make up`` must not start its Prefect server as configured, or None.

    A Prefect API reachable from other machines (KYC_PREFECT_HOST not loopback, e.g.
    ``0.0.0.0`` for Apify's webhook) without a credential lets anyone on the network
    read flow-run parameters and logs, resume, cancel or start runs: refused outside
    development. On loopback, or behind an authenticating proxy that reaches a
    loopback server, no credential is needed.
    """
    if settings.prefect_host in LOOPBACK_HOSTS or settings.prefect_auth_string is not None:
        return None
    if settings.environment == "development":
        return None
    return (
        f"KYC_PREFECT_HOST={settings.prefect_host} exposes the Prefect API beyond this"
        f" machine: set KYC_PREFECT_AUTH_STRING (user:password) in the {settings.environment}"
        " environment, or keep KYC_PREFECT_HOST=127.0.0.1 behind an authenticating proxy"
        " (README: Least privilege)"
    )


def prefect_url(settings: Settings, port: int) -> str:
    """The Prefect server's address as this machine's services reach it."""
    return _local_url(settings.prefect_host, port)


def _local_url(host: str, port: int) -> str:
    """``http://host:port`` for a listen address, as seen from this machine."""
    if host in {"0.0.0.0", ""}:  # all IPv4 interfaces: loopback is one of them
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def web_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The environment of the web service: the stack's, plus plain-HTTP cookies on loopback.

    ``kyc serve`` speaks plain HTTP (TLS belongs to the proxy in front of it in
    production). A session cookie marked Secure is not sent back over http:// by
    every client (Python's cookie jar, used by httpx and requests, never does;
    browsers differ on whether loopback counts as secure), so logging in to the
    local demo would fail. Only in development, only when the console listens on
    loopback (nothing outside this machine can reach it, so a cookie sent in clear
    never crosses a network), and only when the operator has not chosen either way,
    ``make up`` turns Secure cookies off. The settings refuse the same in production.
    """
    web = dict(env)
    if (
        settings.environment == "development"
        and settings.web_host in LOOPBACK_HOSTS
        and "KYC_WEB_SECURE_COOKIES" not in env
    ):
        web["KYC_WEB_SECURE_COOKIES"] = "false"
    return web


def web_command(settings: Settings) -> list[str]:
    """The web service's command line: ``kyc serve`` on KYC_WEB_HOST:KYC_WEB_PORT."""
    return [
        str(BIN / "kyc"),
        "serve",
        "--host",
        settings.web_host,
        "--port",
        str(settings.web_port),
    ]


def console_url(settings: Settings) -> str:
    """The review console's address as seen from this machine."""
    return _local_url(settings.web_host, settings.web_port)


def _start(run_dir: Path, name: str, command: list[str], env: dict[str, str]) -> Started:
    import psutil

    log = (run_dir / f"{name}.log").open("ab")
    proc = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        # Its own process group: `down` stops the service and whatever it spawned
        # (flow-run processes of the worker, the server's workers) and nothing else.
        start_new_session=True,
    )
    log.close()
    started = Started(name, proc.pid, psutil.Process(proc.pid).create_time(), command)
    _pid_file(run_dir, name).write_text(
        json.dumps(
            {"pid": started.pid, "started_at": started.started_at, "command": started.command}
        )
    )
    return started


def _wait_http(url: str, started: Started, run_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        if not is_running(started):
            break
        time.sleep(0.5)
    tail = (run_dir / f"{started.name}.log").read_text(errors="replace")[-2000:]
    raise UpError(f"{started.name} did not come up ({url}); its log ends with:\n{tail}")


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise UpError(f"{what} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _ensure_pool(api: str, auth_string: str | None = None) -> None:
    """Create the process work pool unless it exists (one request, not a CLI start)."""
    import urllib.error

    headers = {"Content-Type": "application/json"}
    if auth_string is not None:
        headers["Authorization"] = basic_authorization(auth_string)
    request = urllib.request.Request(
        f"{api}/work_pools/",
        data=json.dumps({"name": POOL, "type": "process"}).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # 409: it exists already (an earlier `make up`)
            detail = exc.read()[:500]
            raise UpError(f"creating work pool {POOL}: HTTP {exc.code} {detail!r}") from None


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        # As the server will (uvicorn sets it): a port left in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def up(port: int = 4200, run_dir: Path = RUN_DIR, log: bool = True) -> Addresses:
    """Start the stack; returns the Prefect UI's and the console's addresses.

    Stops what it started on failure.

    Raises:
        UpError: already running, the port is taken, or a service failed to start.
    """
    settings = get_settings()
    if settings.landing.startswith("s3://") and not settings.sqs_queue_url:
        raise UpError(
            "KYC_LANDING is an S3 prefix: set KYC_SQS_QUEUE_URL to the queue that receives"
            " its notifications (README: S3 → SQS), or use a local landing folder"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    running = [
        n for n in service_names(run_dir) if (s := read_started(run_dir, n)) and is_running(s)
    ]
    if running:
        raise UpError(f"already running: {', '.join(running)} (make down first)")
    if problem := prefect_exposure_problem(settings):
        raise UpError(problem)
    if not _port_free(port, settings.prefect_host):
        raise UpError(f"port {port} on {settings.prefect_host} is in use (PORT=... make up)")
    if not _port_free(settings.web_port, settings.web_host):
        raise UpError(
            f"port {settings.web_port} on {settings.web_host} is in use (KYC_WEB_PORT=... make up)"
        )
    kyc = str(BIN / "kyc")
    prefect = str(BIN / "prefect")

    def say(msg: str) -> None:
        if log:
            sys.stderr.write(msg + "\n")

    env = stack_env(settings, port)
    try:
        embedded_prefect: str | None = None
        if settings.database_url is None:
            say("starting the embedded PostgreSQL ...")
            db = _start(
                run_dir,
                "database",
                [sys.executable, "-m", "deployments.local", "hold", "--run-dir", str(run_dir)],
                env,
            )
            _wait_file(run_dir / "database.ready", db, run_dir, timeout=180)
            embedded_prefect = _ready(run_dir).get("prefect_url")
        console = console_url(settings)
        say(f"starting the review console and intake API on {console} ...")
        # `kyc serve` migrates the database, then listens; it needs nothing of Prefect's,
        # so it comes up while the Prefect server starts.
        web = _start(run_dir, "web", web_command(settings), web_env(settings, env))
        from kyc.db.engine import prefect_database_url

        prefect_db = prefect_database_url(settings, embedded_prefect)
        env = stack_env(settings, port, prefect_db)
        say(
            f"starting the Prefect server on {settings.prefect_host}:{port}"
            f" ({'PostgreSQL' if prefect_db else 'SQLite'}"
            f"{', basic auth' if settings.prefect_auth_string else ''}) ..."
        )
        if settings.prefect_host not in LOOPBACK_HOSTS and settings.prefect_auth_string is None:
            say("WARNING: the Prefect API is reachable from other machines without a password")
        server = _start(
            run_dir,
            "server",
            [prefect, "server", "start", "--host", settings.prefect_host, "--port", str(port)],
            server_env(settings, env),
        )
        if settings.worker == "warm":
            # Loads the engines while the server starts (both take seconds); it only
            # polls the pool once it is ready, and retries until the pool exists.
            worker = [sys.executable, "-m", "deployments.warm_worker", "--pool", POOL]
            for n in range(1, settings.workers + 1):
                _start(run_dir, worker_name(n), worker, env)
        # /api/health answers without the credential (Prefect exempts the probes).
        _wait_http(f"{prefect_url(settings, port)}/api/health", server, run_dir, timeout=180)
        _wait_http(f"{console}/healthz", web, run_dir, timeout=180)
        say(f"work pool {POOL} and deployments (prefect.yaml) ...")
        _ensure_pool(env["PREFECT_API_URL"], env.get("PREFECT_API_AUTH_STRING"))
        _run([prefect, "--no-prompt", "deploy", "--all"], env, "prefect deploy --all")
        say("starting the worker and the event bridge ...")
        if settings.worker == "process":
            for n in range(1, settings.workers + 1):
                command = [prefect, "worker", "start", "--pool", POOL]
                _start(run_dir, worker_name(n), [*command, "--name", f"kyc-{n}"], env)
        # The bridge starts last: an event emitted before the deployment's trigger
        # exists would start nothing.
        if settings.sqs_queue_url:
            bridge = [kyc, "bridge", "--sqs-queue-url", settings.sqs_queue_url]
            if settings.sqs_dlq_url:
                bridge += ["--dlq-url", settings.sqs_dlq_url]
            if settings.sqs_endpoint_url:
                bridge += ["--sqs-endpoint-url", settings.sqs_endpoint_url]
        else:
            Path(settings.landing).mkdir(parents=True, exist_ok=True)
            bridge = [kyc, "bridge", "--watch", settings.landing]
        _start(run_dir, "bridge", bridge, env)
    except BaseException:
        down(run_dir, log=False)
        raise
    return Addresses(prefect_ui=prefect_url(settings, port), console=console)


def _ready(run_dir: Path) -> dict[str, str]:
    """What the database holder wrote into ``database.ready``."""
    try:
        data = json.loads((run_dir / "database.ready").read_text())
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _wait_file(path: Path, started: Started, run_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if not is_running(started) or time.monotonic() > deadline:
            tail = (run_dir / f"{started.name}.log").read_text(errors="replace")[-2000:]
            raise UpError(f"{started.name} did not come up; its log ends with:\n{tail}")
        time.sleep(0.3)


def down(run_dir: Path = RUN_DIR, log: bool = True, grace: float = 20.0) -> list[str]:
    """Stop what ``up`` started, newest first; returns the names stopped."""
    stopped: list[str] = []
    for name in reversed(service_names(run_dir)):
        started = read_started(run_dir, name)
        if started is None:
            continue
        if is_running(started):
            _stop_group(started, grace)
            stopped.append(name)
            if log:
                sys.stderr.write(f"stopped {name} (pid {started.pid})\n")
        _pid_file(run_dir, name).unlink(missing_ok=True)
    (run_dir / "database.ready").unlink(missing_ok=True)
    return stopped


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _stop_group(started: Started, grace: float) -> None:
    if not _signal_group(started.pid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while is_running(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    # Whatever of the group is left (a leader ignoring SIGTERM, or children that
    # outlived it, e.g. a flow run mid-way) gets a short grace, then SIGKILL.
    if _signal_group(started.pid, signal.SIGTERM):
        time.sleep(min(grace, 2.0))
        _signal_group(started.pid, signal.SIGKILL)


def hold_database(run_dir: Path = RUN_DIR) -> None:
    """Keep the embedded PostgreSQL up until SIGTERM (the ``database`` service)."""
    from kyc import runtime

    def _exit(*_: object) -> None:
        # Raise instead of dying: the embedded server stops from an atexit hook.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
    runtime.database()
    ready: dict[str, object] = {"pid": os.getpid()}
    settings = runtime.current().settings
    if settings.prefect_database_url is None and settings.prefect_database == "postgresql":
        from kyc.db.engine import PREFECT_DATABASE, embedded_database_url

        # Prefect's database on the same embedded server, created here: only the
        # process holding the server may attach to it (the last one to attach stops
        # it when it exits).
        ready["prefect_url"] = embedded_database_url(settings.embedded_pg_dir, PREFECT_DATABASE)
    (run_dir / "database.ready").write_text(json.dumps(ready))
    while True:
        time.sleep(3600)


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.local up|down|hold [--port N]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m deployments.local")
    parser.add_argument("action", choices=["up", "down", "hold"])
    parser.add_argument("--port", type=int, default=4200)
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    args = parser.parse_args(argv)
    if args.action == "hold":
        hold_database(args.run_dir)
        return 0
    if args.action == "down":
        names = down(args.run_dir)
        sys.stderr.write("nothing was running\n" if not names else "")
        return 0
    try:
        addresses = up(args.port, args.run_dir)
    except UpError as exc:
        sys.stderr.write(f"make up failed: {exc}\n")
        return 1
    sys.stdout.write(
        f"KYC pipeline is up. Prefect UI: {addresses.prefect_ui}\n"
        f"review console: {addresses.console}/ (intake API: {addresses.console}/v1)\n"
        f"logs and pid files: {args.run_dir}\n"
        "stop it with: make down\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
