"""Trace applications from landing to notification in a fresh interpreter; print the spans.

Run by tests/flows/test_tracing.py as ``python -m tests.flows.trace_application
LANDING APP_ID [BATCH_APP_ID ...]`` with the KYC_* settings in the environment.
Tracing is process-wide (a tracer provider, patched libraries), so it runs in a
process of its own rather than in the test session.

1. A Prefect API (the test harness), the process-application deployment on the
   ``kyc-process`` pool, tracing on with an in-memory exporter.
2. The folder watcher sees APP_ID's objects and emits their events (opening the
   landing span); the trigger's parameters (prefect.yaml, rendered by Prefect) create
   a flow run of the deployment; the warm worker claims and runs it.
3. The batch flow (ingest-landing) then decides the BATCH_APP_IDs in process.

Prints one JSON object per finished span on stdout (ids in hex).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path
from typing import Any


def _span_record(span: Any) -> dict[str, Any]:
    ctx = span.get_span_context()
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name,
        "attributes": {
            k: v if isinstance(v, str | int | float | bool) else list(v)
            for k, v in (span.attributes or {}).items()
        },
        "links": [f"{link.context.trace_id:032x}" for link in span.links],
    }


async def _deploy() -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.process_application import process_application

    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name="kyc-process", type="process"))
        flow_id = await client.create_flow(process_application)
        return await client.create_deployment(
            flow_id=flow_id,
            name="process-application",
            entrypoint="flows/process_application.py:process_application",
            work_pool_name="kyc-process",
        )


class DeploymentEmitter:
    """Creates the flow runs the trigger would create for the emitted events."""

    def __init__(self, deployment_id: Any) -> None:
        self.deployment_id = deployment_id
        self.runs: list[Any] = []

    def emit(self, objects: Any) -> None:
        from deployments.bridge import build_event
        from tests.fixtures.trigger import trigger_parameters

        for obj in objects:
            params = trigger_parameters(build_event(obj))
            if params is not None:
                self.runs.append(asyncio.run(self._create(params)))

    async def _create(self, params: dict[str, Any]) -> Any:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return await client.create_flow_run_from_deployment(
                self.deployment_id, parameters=params
            )


async def _work(worker: Any) -> int:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return int(await worker.poll_once(client))


def main(argv: list[str]) -> int:
    import logging

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prefect.testing.utilities import prefect_test_harness

    from deployments.warm_worker import quiet_logs

    # As the warm worker logs under make up (its main()): INFO, without the noise.
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s", stream=sys.stderr)
    quiet_logs()
    landing, _app_id, *batch = argv
    exporter = InMemorySpanExporter()
    with prefect_test_harness(server_startup_timeout=180):
        from deployments.bridge import FolderWatcher
        from deployments.warm_worker import WarmWorker
        from flows.ingest import ingest_landing
        from kyc import telemetry
        from kyc.settings import get_settings

        telemetry.setup(get_settings(), exporter=exporter)
        deployment_id = asyncio.run(_deploy())
        emitter = DeploymentEmitter(deployment_id)
        batch_dir = Path(landing) / "incoming"
        parked = {b: batch_dir.with_name(f"parked-{b}") for b in batch}
        for b, where in parked.items():  # the batch's applications land later
            (batch_dir / b).rename(where)
        watcher = FolderWatcher(Path(landing), emitter, replay=True, settle_seconds=0)
        watcher.scan_once()
        assert len(emitter.runs) == 1, emitter.runs
        worker = WarmWorker("kyc-process", poll_seconds=0.2, concurrency=1)
        assert asyncio.run(_work(worker)) == 1
        worker._executor.shutdown(wait=True)
        for b, where in parked.items():
            where.rename(batch_dir / b)
        if batch:
            outcomes = ingest_landing(landing)
            assert {o.application_id for o in outcomes if o.status == "DECIDED"} == set(batch)
    for span in exporter.get_finished_spans():
        sys.stdout.write(json.dumps(_span_record(span)) + "\n")
    threading.Event().wait(0.1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
