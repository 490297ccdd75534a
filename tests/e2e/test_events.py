"""Event-driven end to end: S3 put → SQS → bridge → Prefect trigger → worker → decision.

Everything real on loopback: moto's standalone server for S3 and SQS (the bucket
notifies the queue), `make up`'s stack (deployments.local.up: a Prefect server in a
subprocess, the work pool, `prefect deploy --all`, the warm worker, `kyc bridge
--sqs-queue-url`), and PostgreSQL. Also checks that an object landed again (a new
S3 event for the same bytes) makes no second decision and that an unreadable
message ends in the dead-letter queue.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from kyc import runtime

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _flow_runs(api: str) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        f"{api}/flow_runs/filter",
        data=json.dumps({"sort": "EXPECTED_START_TIME_ASC"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        return list(json.loads(reply.read()))


def _wait(what: str, check: Any, timeout: float, run_dir: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(run_dir.glob("*.log"))
    )
    pytest.fail(f"timed out waiting for {what}\n{logs}")


def test_s3_put_to_decision_through_sqs_bridge_and_trigger(
    s3_client: Any,
    s3_bucket: str,
    moto_endpoint: str,
    fresh_pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from deployments import local
    from deployments.bridge import connect_bucket_to_queue
    from kyc.demo.generate import generate_demo
    from kyc.settings import get_settings
    from kyc.storage.local import LocalStore
    from tests.fixtures.s3 import REGION

    shared = get_settings().shared_data_dir
    if not (shared / "faces").is_dir():
        pytest.skip("../shared/data not present")
    generated = LocalStore(tmp_path / "generated")
    case = next(c for c in generate_demo(generated, shared) if c.kind == "genuine")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    queue_url, dlq_url = connect_bucket_to_queue(
        s3_client, sqs, bucket=s3_bucket, queue_name=f"kyc-{s3_bucket}"
    )

    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    for key, value in {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "KYC_LANDING": f"s3://{s3_bucket}",
        "KYC_S3_ENDPOINT_URL": moto_endpoint,
        "KYC_AWS_REGION": REGION,
        "KYC_SQS_QUEUE_URL": queue_url,
        "KYC_SQS_DLQ_URL": dlq_url,
        "KYC_SQS_ENDPOINT_URL": moto_endpoint,
        "KYC_DATABASE_URL": fresh_pg_url,
        "KYC_LIVENESS_POLICY": "record",
        "KYC_WORKER": "warm",
        "KYC_WORKER_POLL_SECONDS": "1",
        "KYC_WEB_PORT": str(_free_port()),  # make up's web app too
    }.items():
        monkeypatch.setenv(key, value)
    runtime.reset()
    run_dir = tmp_path / "run"
    addresses = local.up(port=port, run_dir=run_dir, log=False)
    engine = sa.create_engine(fresh_pg_url)
    try:
        # make up serves the web app (review console + intake API) beside the pipeline.
        with urllib.request.urlopen(f"{addresses.console}/healthz", timeout=10) as reply:
            assert json.loads(reply.read()) == {"status": "ok"}
        _wait(
            "the warm worker",
            lambda: "warm worker ready" in (run_dir / "worker.log").read_text(errors="replace"),
            120,
            run_dir,
        )
        sqs.send_message(QueueUrl=queue_url, MessageBody="this is not an S3 notification")
        objects = sorted(
            generated.list(f"incoming/{case.application_id}/"), key=lambda o: "selfie" in o.key
        )
        for obj in objects:  # the selfie lands last
            s3_client.put_object(Bucket=s3_bucket, Key=obj.key, Body=generated.get(obj.key))

        def decisions() -> list[tuple[str, int, str]]:
            with engine.connect() as conn:
                return [
                    tuple(r)
                    for r in conn.execute(
                        sa.text("select application_id, version, decision::text from kyc_decisions")
                    )
                ]

        rows = _wait("the decision", decisions, 90, run_dir)
        assert rows == [(case.application_id, 1, case.expected)]

        def finished_runs() -> list[dict[str, Any]]:
            runs = [r for r in _flow_runs(api) if r["parameters"].get("application_id")]
            done = [r for r in runs if r["state_type"] in {"COMPLETED", "FAILED", "CRASHED"}]
            return runs if runs and len(done) == len(runs) else []

        # The same selfie landed again. moto repeats the notification exactly (same
        # ETag and sequencer), i.e. the duplicate delivery SQS allows: no new event,
        # no new run. (Real S3 gives a re-put a new sequencer: a new run, which
        # finds the objects decided: tests/flows/test_reprocess.py checks that.)
        selfie = objects[-1]
        s3_client.put_object(Bucket=s3_bucket, Key=selfie.key, Body=generated.get(selfie.key))
        time.sleep(3)
        runs = _wait("the flow run to finish", finished_runs, 60, run_dir)
        # One run: the bridge labels only the event of the object that completed the
        # application as "complete", and the trigger matches only those.
        assert len(runs) == 1 and runs[0]["state_type"] == "COMPLETED", runs
        params = runs[0]["parameters"]
        assert params["application_id"] == case.application_id
        assert params["landing"] == f"s3://{s3_bucket}"
        assert len(params["event_id"]) == 36  # `| string` on a UUID
        assert decisions() == rows  # one decision, however often the objects land

        dead = _wait(
            "the poison message in the DLQ",
            lambda: sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages"),
            30,
            run_dir,
        )
        assert dead[0]["Body"] == "this is not an S3 notification"
    finally:
        engine.dispose()
        local.down(run_dir, log=False)
        runtime.reset()
    assert not any(
        (s := local.read_started(run_dir, n)) and local.is_running(s) for n in local.SERVICES
    )
