"""Notification benchmark: what a configured channel adds per decision.

Every receiver is real and on loopback: a webhook receiver (``http.server`` in a
thread), aiosmtpd, and moto's standalone server for SNS (with an SQS subscription).
For each channel, N notifications go through :func:`kyc.notify.base.deliver` with
the delivery log written to a fresh embedded PostgreSQL (one row per attempt, as in
the pipeline). Prints p50/p95/max per notification in milliseconds, plus the cost
of signing alone. Not a test: figures depend on the machine and its load.

    .venv/bin/python benchmarks/bench_notify.py --n 200 [--json-out PATH]
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
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _webhook_receiver() -> tuple[str, Callable[[], None]]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", server.shutdown


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()

    # Fake AWS credentials for moto; never real ones, never IMDS.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "NO_PROXY": "127.0.0.1",
    }.items():
        os.environ[key] = value
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)

    workdir = Path(tempfile.mkdtemp(prefix="bench-notify-", dir=ROOT / "var"))
    os.environ["KYC_DATABASE_URL"] = ""
    os.environ["KYC_EMBEDDED_PG_DIR"] = str(workdir / "pgdata")

    import logging

    import boto3
    from aiosmtpd.controller import Controller
    from moto.server import ThreadedMotoServer

    from kyc import runtime
    from kyc.notify.base import Notification, RetryPolicy, deliver, message_id
    from kyc.notify.email import EmailChannel
    from kyc.notify.sns import SnsChannel
    from kyc.notify.webhook import WebhookChannel, generate_secret, sign
    from kyc.services.notify import record_attempt

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    runtime.reset()
    hook_url, stop_hook = _webhook_receiver()

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    smtp_port = _free_port()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        sns = boto3.client("sns", endpoint_url=endpoint, region_name=REGION)
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
        topic = sns.create_topic(Name="bench")["TopicArn"]
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

        runtime.database()  # start + migrate before timing
        channels = {
            "webhook": WebhookChannel(hook_url, [generate_secret()]),
            "sns": SnsChannel(topic, region=REGION, endpoint_url=endpoint),
            "email": EmailChannel(
                "127.0.0.1",
                smtp_port,
                sender="b@example.test",
                default_to=["cs@example.test"],
                tls="none",
            ),
        }
        results: dict[str, Any] = {"n": args.n}
        secret = generate_secret()
        body = json.dumps({"data": {"application_id": "x" * 16, "reasons": ["A"] * 3}}).encode()
        started = time.perf_counter()
        for i in range(args.n):
            sign(f"msg_{i}", 1_700_000_000, body, [secret, secret])
        results["sign_two_secrets_us"] = round((time.perf_counter() - started) / args.n * 1e6, 1)
        for name, channel in channels.items():
            deliver(  # warm-up (connections, imports), not timed
                channel,
                Notification("msg_warm", "kyc.decision", {}, "s", "t", "warm"),
                policy=RetryPolicy(max_attempts=1),
            )
            timings: list[float] = []
            for _ in range(args.n):
                app_id = f"bench-{uuid.uuid4().hex[:8]}"
                n = Notification(
                    message_id=message_id("bench", app_id, 1),
                    event="kyc.decision",
                    application_id=app_id,
                    data={
                        "application_id": app_id,
                        "decision": "PASS",
                        "reasons": [],
                        "version": 1,
                    },
                    subject=f"KYC PASS: application {app_id}",
                    text="Application decided PASS.\n",
                )
                t0 = time.perf_counter()
                result = deliver(
                    channel,
                    n,
                    policy=RetryPolicy(max_attempts=1),
                    record=lambda a: record_attempt(runtime.current(), a),
                )
                timings.append((time.perf_counter() - t0) * 1000)
                if not result.delivered:
                    raise SystemExit(f"{name} delivery failed: {result.last_error}")
            results[name] = _percentiles(timings)
    finally:
        smtp.stop()
        moto.stop()
        stop_hook()
        runtime.reset()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"notifications, N={args.n} per channel, delivery + delivery-log row (ms):")
    for name in ("webhook", "sns", "email"):
        r = results[name]
        print(f"  {name:8s} p50 {r['p50_ms']:7.2f}  p95 {r['p95_ms']:7.2f}  max {r['max_ms']:7.2f}")
    print(f"  signing (two secrets): {results['sign_two_secrets_us']} µs per message")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
