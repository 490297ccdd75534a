"""Tracing (kyc/telemetry.py): nothing when off; one trace per application when on.

Both run in fresh interpreters: tracing is process-wide, and "off" means the SDK is
never imported, which only a clean process can show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from kyc.notify.webhook import generate_secret
from kyc.storage.local import LocalStore
from tests.fixtures.notify import WebhookReceiver
from tests.services.conftest import land

ROOT = Path(__file__).resolve().parents[2]

#: Every stage of one application, as Prefect task runs of the per-application flow.
STAGES = {
    "discover-applications", "already-decided", "load-form", "register-application",
    "scan-document", "match-face", "check-liveness", "check-duplicates", "check-register",
    "validate-licence", "data-quality-gate", "decide", "notify-decision",
}  # fmt: skip


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYC_", "OTEL_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_tracing_off_imports_no_sdk_and_makes_no_spans(tmp_path: Path) -> None:
    probe = """
import sys
from kyc import telemetry
from kyc.settings import Settings
import kyc.cli, flows.process_application, flows.ingest, deployments.bridge, deployments.warm_worker
from kyc.web.app import create_app
create_app(Settings())
assert not telemetry.enabled()
with telemetry.span("x") as s, telemetry.application_span("a", new_trace=True) as a:
    assert s is None and a is None
assert telemetry.start_span("x", {}) is None and telemetry.traceparent(None) is None
assert telemetry.trace_labels({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}, {}) == {}
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.instrumentation", "opentelemetry.exporter")))
print(loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_env(KYC_LANDING=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _tree(spans: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    by_id = {s["span_id"]: s for s in spans}
    children: dict[str, list[str]] = defaultdict(list)
    for s in spans:
        if s["parent_id"]:
            children[s["parent_id"]].append(s["span_id"])
    return by_id, children


def _descendants(span_id: str, children: dict[str, list[str]]) -> list[str]:
    out, todo = [], list(children.get(span_id, []))
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def _stage(span: dict[str, Any]) -> str:
    """A task run's span name is its run name: ``<task name>-<3 hex digits>``."""
    return span["name"].rsplit("-", 1)[0]


@pytest.mark.slow
# The span tree does not depend on the database server (tests/db covers both).
@pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)
def test_one_application_is_one_trace_from_landing_to_notification(
    fresh_pg_url: str,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    store = LocalStore(landing)
    app_id = land(store, shared_data, identity=0).application_id
    batch = [land(store, shared_data, identity=i).application_id for i in (1, 2)]
    done = subprocess.run(
        [sys.executable, "-m", "tests.flows.trace_application", str(landing), app_id, *batch],
        cwd=ROOT,
        env=_env(
            KYC_DATABASE_URL=fresh_pg_url,
            KYC_LANDING=str(landing),
            KYC_LIVENESS_POLICY="record",
            KYC_WEBHOOK_URL=webhook_receiver.url,
            KYC_WEBHOOK_SECRET=generate_secret(),
            KYC_TASK_RETRIES="1",
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    # The worker's log at INFO: one line for the run, saying what it decided; no line
    # per poll or per HTTP request.
    worker_lines = [x for x in done.stderr.splitlines() if x.startswith("deployments.warm_worker")]
    assert len(worker_lines) == 1 and f"application {app_id} DECIDED PASS" in worker_lines[0]
    assert "HTTP Request" not in done.stderr
    spans = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_id, children = _tree(spans)

    # The landing event opened the trace; the flow run continues it (warm worker label).
    (landing_span,) = [s for s in spans if s["name"] == "kyc.landing"]
    assert landing_span["attributes"]["kyc.application_id"] == app_id
    trace_id = landing_span["trace_id"]
    assert landing_span["parent_id"] is None
    in_trace = [s for s in spans if s["trace_id"] == trace_id]
    flow_runs = [s for s in in_trace if s["attributes"].get("prefect.run.type") == "flow"]
    (flow_run,) = flow_runs
    assert flow_run["parent_id"] == landing_span["span_id"]

    # Every stage is a task run under the flow run, in the same trace.
    tasks = [s for s in in_trace if s["attributes"].get("prefect.run.type") == "task"]
    assert {_stage(s) for s in tasks} >= STAGES, sorted(_stage(s) for s in tasks)
    under_flow = set(_descendants(flow_run["span_id"], children))
    assert {t["span_id"] for t in tasks} <= under_flow

    # The database work sits under the stages that do it.
    def sql_under(stage: str) -> list[dict[str, Any]]:
        (task,) = [t for t in tasks if _stage(t) == stage]
        found = [by_id[i] for i in _descendants(task["span_id"], children)]
        return [s for s in found if s["attributes"].get("db.system") == "postgresql"]

    for stage in ("register-application", "scan-document", "match-face", "decide"):
        assert sql_under(stage), f"no SQL spans under {stage}"
    assert all(
        s["trace_id"] == trace_id
        for s in spans
        if s["attributes"].get("db.name") and s["span_id"] in under_flow
    )

    # The notification: the webhook POST under notify-decision, its query string gone.
    (notify,) = [t for t in tasks if _stage(t) == "notify-decision"]
    posts = [by_id[i] for i in _descendants(notify["span_id"], children)]
    posts = [s for s in posts if s["kind"] == "CLIENT" and s["name"].startswith("POST")]
    assert posts, "no HTTP span for the webhook"
    urls = [v for s in posts for k, v in s["attributes"].items() if k in {"url.full", "http.url"}]
    assert urls and all("token" not in u and "?" not in u for u in urls), urls
    assert len(webhook_receiver.requests) == 3  # the run and the batch's two decisions

    # No call to the Prefect API is traced.
    assert not [s for s in spans if "/api/" in json.dumps(s["attributes"])]

    # The batch: one trace per application, linked to the batch's flow run.
    roots = [s for s in spans if s["name"] == "kyc.application" and s["parent_id"] is None]
    assert sorted(s["attributes"]["kyc.application_id"] for s in roots) == sorted(batch)
    (batch_run,) = [
        s
        for s in spans
        if s["attributes"].get("prefect.run.type") == "flow" and s["trace_id"] != trace_id
    ]
    for root in roots:
        assert root["links"] == [batch_run["trace_id"]]
        assert root["trace_id"] not in {batch_run["trace_id"], trace_id}
        stages = {by_id[i]["name"] for i in _descendants(root["span_id"], children)}
        assert {"scan-document", "match-face", "decide", "notify-decision"} <= stages


def test_xray_trace_ids_start_with_the_time() -> None:
    probe = """
import time
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from kyc import telemetry
from kyc.settings import Settings
exporter = InMemorySpanExporter()
assert telemetry.setup(Settings(tracing_xray_ids=True), exporter=exporter)
with telemetry.span("probe"):
    pass
(span,) = exporter.get_finished_spans()
print(span.context.trace_id >> 96, int(time.time()))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=_env(), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    epoch, now = map(int, done.stdout.split())
    # X-Ray wants the first 32 bits of the trace id to be the start time (epoch seconds).
    assert 0 <= now - epoch <= 60
