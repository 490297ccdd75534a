"""What the ``kyc`` command groups share: the stderr console and Prefect's settings."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

#: Messages and progress go to stderr; results (JSON lines, tables) to stdout.
console = Console(stderr=True)

#: ``--json``: results as JSON lines on stdout instead of a table.
JsonLines = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
#: ``--verbose`` / ``-v``: Prefect logs at INFO.
Verbose = Annotated[bool, typer.Option("--verbose", "-v")]

#: Defaults for Prefect's embedded (ephemeral) API; the environment wins.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # The 20 s default is tight on a 2-core machine while other work runs.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "GX_ANALYTICS_ENABLED": "false",
    # The ephemeral server records task runs in batches, every 5 s by default; a short
    # interval lets it finish before the CLI exits (see quiet_ephemeral_shutdown).
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "0.5",
}


def prefect_env(verbose: bool) -> None:
    """Set Prefect's defaults (:data:`PREFECT_DEFAULTS`) where the environment has none.

    Args:
        verbose: log at INFO instead of WARNING (overrides the environment).
    """
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if verbose:
        os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"


def ephemeral_api_dies_with_us() -> None:
    """Start Prefect's ephemeral API server now, with a lifeline to this process.

    Without PREFECT_API_URL, Prefect starts a temporary API server (a uvicorn
    subprocess) on first use and stops it from an atexit hook; a CLI killed with
    SIGKILL never runs that hook, and the server would keep running (and a core
    busy). Started here instead — it is the same process-wide server instance Prefect
    would start, so flows use it — and watched by :func:`kyc.lifeline.attach`. With a
    real server configured nothing is started.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from prefect.server.api.server import SubprocessASGIServer

    from kyc.lifeline import attach

    server = SubprocessASGIServer()
    if server.running and server.server_process is not None:
        return
    server.start()
    if server.server_process is not None:
        attach(server.server_process.pid)


def quiet_ephemeral_shutdown() -> None:
    """Let Prefect's ephemeral server record the last task runs before we exit.

    With the ephemeral API the server subprocess is terminated at exit; if its
    task-run recorder is mid-flush it logs a traceback about Prefect's own
    bookkeeping (our decisions are already committed to PostgreSQL by then). So:
    send the client's pending events, then give the recorder (flushing every 0.5 s)
    a moment. With a real server (PREFECT_API_URL set) nothing waits.
    """
    import time

    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL

    EventsWorker.drain_all(timeout=5)
    if not PREFECT_API_URL.value():
        time.sleep(1.5)


def wide_console() -> Console:
    """A stdout console, 160 columns wide when stdout is not a terminal.

    Reason codes are long; when stdout is not a terminal rich assumes 80 columns.

    Returns:
        The console to print tables on.
    """
    out = Console()
    return out if out.is_terminal else Console(width=160)
