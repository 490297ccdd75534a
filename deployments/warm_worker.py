"""A warm, in-process worker for the ``kyc-process`` pool: engines stay loaded.

Prefect's process worker starts a new Python process per flow run. For this
pipeline that costs more than the work itself: importing Prefect and the engines
and loading the OCR and face models takes several seconds per run (measured by
``make bench-latency``), against well under a second of work per application. An
event-triggered run should start in about the poll interval, so this worker keeps
one process with everything loaded and runs the pool's flow runs in threads, the
way the batch flow already runs applications concurrently.

It does what a Prefect worker does, through the public client API: poll the work
pool for due runs, claim each by proposing PENDING (the server refuses a second
claim, so several workers can share a pool), then hand it to Prefect's flow engine
(``run_flow``), which reports RUNNING/COMPLETED/FAILED and logs to the server as
usual. Only deployments whose entrypoint is one of this project's flows are run.

Trade-off: no process isolation between runs (a crash in a native engine takes the
worker down; restart it, e.g. ``make up`` again). Prefect's process worker stays
available: ``KYC_WORKER=process``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)
_HEARTBEAT_SECONDS = 30.0


def flow_for_entrypoint(entrypoint: str) -> Any:
    """The project flow named by a deployment entrypoint (``flows/x.py:fn``).

    Raises:
        ValueError: not a flow of this project (the worker leaves such runs alone).
    """
    path, _, name = entrypoint.partition(":")
    if not path.startswith("flows/") or not path.endswith(".py") or not name.isidentifier():
        raise ValueError(f"not a project flow: {entrypoint!r}")
    module = importlib.import_module(path[: -len(".py")].replace("/", "."))
    return getattr(module, name)


def run_summary(state: Any) -> str:
    """What a finished run did, in one line without personal data (ids and codes)."""
    from kyc.domain.records import Outcome

    if not state.is_completed():
        return f"{state.name}: {state.message or ''}".strip()
    try:
        result = state.result(raise_on_failure=False)
    except Exception:
        return state.name
    outcomes = result if isinstance(result, list) else [result]
    outcomes = [o for o in outcomes if isinstance(o, Outcome)]
    if len(outcomes) == 1:
        o = outcomes[0]
        reasons = ",".join(o.reasons)
        return " ".join(
            p for p in (f"application {o.application_id}", o.status, o.decision, reasons) if p
        )
    if outcomes:
        from collections import Counter

        counts = Counter(str(o.decision or o.status) for o in outcomes)
        return f"{len(outcomes)} applications: " + ", ".join(
            f"{k} {v}" for k, v in sorted(counts.items())
        )
    return state.name


async def _continue_trace(client: Any, flow_run: Any) -> None:
    """Start the run in its landing event's trace (tracing on, ``traceparent`` given).

    Prefect's engine parents a flow run's span on its ``__OTEL_TRACEPARENT`` label;
    the trigger can set parameters but not labels, so the worker sets the label.
    """
    from kyc import telemetry

    labels = telemetry.trace_labels(flow_run.parameters, flow_run.labels)
    if labels:
        await client.update_flow_run_labels(flow_run.id, labels)
        flow_run.labels.update(labels)


def quiet_logs() -> None:
    """INFO without noise: no line per poll (httpx), per plugin (alembic), per client."""
    for name in ("httpx", "httpcore", "alembic.runtime.plugins", "botocore.credentials"):
        logging.getLogger(name).setLevel(logging.WARNING)


def warm_up() -> None:
    """Load what every run needs once: flows, engines, the database (migrated)."""
    from kyc import runtime

    for entry in (
        "flows/process_application.py:process_application",
        "flows/ingest.py:ingest_landing",
        "flows/fanout.py:process_chunk",
        "flows/reprocess.py:reprocess_application",
    ):
        flow_for_entrypoint(entry)
    rt = runtime.current()
    _ = rt.db
    engines = rt.engines
    # The engines load their models on first use: run them once on a blank image so
    # the first application does not pay for it (a blank page reads as nothing).
    import io

    from PIL import Image

    from kyc.domain.application import DocumentType

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, format="JPEG")
    blank = buf.getvalue()
    try:
        engines.document_reader.read(blank, back=None, document_type=DocumentType.PASSPORT)
        engines.face_matcher.compare(blank, blank)
    except Exception as exc:  # warming is an optimisation; the runs report real errors
        log.warning("engine warm-up failed: %s", type(exc).__name__)


class WarmWorker:
    """Polls one work pool and runs its flow runs in this process.

    Args:
        pool: the work pool name.
        poll_seconds: how often to ask for due runs.
        concurrency: flow runs at once (threads).
    """

    def __init__(self, pool: str, poll_seconds: float = 1.0, concurrency: int = 4) -> None:
        """Set up; nothing is contacted until :meth:`run`."""
        self.pool = pool
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="kyc-run")
        self._running: dict[uuid.UUID, Future[Any]] = {}
        self._entrypoints: dict[uuid.UUID, str | None] = {}

    async def poll_once(self, client: Any) -> int:
        """Claim and start the due runs (as many as there are free threads)."""
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.states import Crashed, Pending

        for run_id in [r for r, f in self._running.items() if f.done()]:
            self._running.pop(run_id)
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        due = await client.get_scheduled_flow_runs_for_work_pool(
            work_pool_name=self.pool,
            scheduled_before=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
        )
        started = 0
        for item in due[:free]:
            flow_run = item.flow_run
            if flow_run.id in self._running or flow_run.deployment_id is None:
                continue
            entrypoint = await self._entrypoint(client, flow_run.deployment_id)
            try:
                flow = flow_for_entrypoint(entrypoint or "")
            except (ValueError, ImportError, AttributeError):
                log.warning("flow run %s: entrypoint %r is not ours; left", flow_run.id, entrypoint)
                continue
            claim = await client.set_flow_run_state(flow_run.id, Pending())
            if claim.status != SetStateStatus.ACCEPT:
                continue  # another worker claimed it, or it was cancelled meanwhile
            try:
                fresh = await client.read_flow_run(flow_run.id)
                await _continue_trace(client, fresh)
                self._running[flow_run.id] = self._executor.submit(self._execute, flow, fresh)
            except Exception as exc:
                # Claimed but not started: say so instead of leaving it PENDING forever.
                await client.set_flow_run_state(
                    flow_run.id, Crashed(message=f"warm worker: {type(exc).__name__}: {exc}")
                )
                raise
            started += 1
        return started

    async def _entrypoint(self, client: Any, deployment_id: uuid.UUID) -> str | None:
        if deployment_id not in self._entrypoints:
            deployment = await client.read_deployment(deployment_id)
            self._entrypoints[deployment_id] = deployment.entrypoint
        return self._entrypoints[deployment_id]

    @staticmethod
    def _execute(flow: Any, flow_run: Any) -> Any:
        from prefect.flow_engine import run_flow

        log.debug("running flow run %s (%s)", flow_run.id, flow_run.name)
        state = run_flow(flow, flow_run=flow_run, return_type="state")
        # One line per run at INFO: what it did (the run's own logs are on the server).
        log.info("%s %s: %s", flow.name, flow_run.name, run_summary(state))
        return state

    async def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, then wait for the runs in progress."""
        from prefect.client.orchestration import get_client

        name = f"kyc-warm-{socket.gethostname()}-{os.getpid()}"
        last_beat = 0.0
        async with get_client() as client:
            while not stop.is_set():
                try:
                    if time.monotonic() - last_beat >= _HEARTBEAT_SECONDS:
                        # Lists the worker in the UI and marks the pool READY.
                        await client.send_worker_heartbeat(
                            self.pool, name, heartbeat_interval_seconds=_HEARTBEAT_SECONDS
                        )
                        last_beat = time.monotonic()
                    await self.poll_once(client)
                except Exception as exc:
                    # One line (the server may be starting or restarting); the
                    # traceback only at DEBUG.
                    log.error("polling pool %s failed: %s", self.pool, type(exc).__name__)
                    log.debug("polling pool %s failed", self.pool, exc_info=True)
                await asyncio.sleep(self.poll_seconds)
        self._executor.shutdown(wait=True)


def main() -> None:
    """``python -m deployments.warm_worker [--pool kyc-process]``."""
    import argparse

    from kyc.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m deployments.warm_worker")
    parser.add_argument("--pool", default="kyc-process")
    parser.add_argument("--poll-seconds", type=float, default=get_settings().worker_poll_seconds)
    parser.add_argument("--concurrency", type=int, default=get_settings().concurrency)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_logs()
    from kyc import metrics, runtime, telemetry

    settings = get_settings()
    telemetry.setup(settings)
    if settings.metrics_port:
        metrics.watch_backlog(runtime.current)
        metrics.serve(settings.metrics_host, settings.metrics_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    warm_up()
    log.info("warm worker ready on pool %s (poll %.1f s)", args.pool, args.poll_seconds)
    asyncio.run(WarmWorker(args.pool, args.poll_seconds, args.concurrency).run(stop))


if __name__ == "__main__":
    main()
