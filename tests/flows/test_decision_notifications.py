"""Decisions notify downstream: the batch flow with a signed-webhook receiver, the
customer-service mailbox (aiosmtpd) and SNS → SQS, all real and on loopback.
A receiver that keeps failing leaves the decision untouched and a FAILED row."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.ingest import ingest_landing
from kyc import runtime
from kyc.cli import app as cli_app
from kyc.db.engine import session_scope
from kyc.db.repository import list_decisions
from kyc.demo.generate import generate_demo
from kyc.notify.webhook import generate_secret
from kyc.storage.local import LocalStore
from tests.fixtures.db import DatabaseFactory
from tests.fixtures.notify import Received, SmtpServer, SnsToSqs, WebhookReceiver

pytestmark = pytest.mark.slow


def _verify_independently(r: Received, secret: str, max_age_s: int = 300) -> dict:
    """Standard Webhooks verification written from the spec (no kyc code)."""
    import time

    ts = int(r.headers["webhook-timestamp"])
    assert abs(time.time() - ts) < max_age_s
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{r.headers['webhook-id']}.{ts}.".encode() + r.body, hashlib.sha256)
    want = "v1," + base64.b64encode(mac.digest()).decode()
    assert any(hmac.compare_digest(want, s) for s in r.headers["webhook-signature"].split())
    return json.loads(r.body)


def _landing_with(landing: Path, shared: Path, kinds: list[str]) -> dict[str, str]:
    """One demo application of each kind, under fresh ids; returns id -> expected."""
    scratch = landing.parent / "scratch"
    cases = generate_demo(LocalStore(scratch), shared)
    store, src = LocalStore(landing), LocalStore(scratch)
    chosen: dict[str, str] = {}
    for kind in kinds:
        case = next(c for c in cases if c.kind == kind)
        new_id = f"note-{kind}-{uuid.uuid4().hex[:6]}"
        for obj in src.list(f"incoming/{case.application_id}/"):
            data = src.get(obj.key)
            if obj.key.endswith("application.json"):
                data = data.replace(case.application_id.encode(), new_id.encode())
            store.put(obj.key.replace(case.application_id, new_id), data)
        chosen[new_id] = case.expected
    return chosen


@pytest.fixture
def embedded_only(pg_server: DatabaseFactory) -> None:
    # The SQL this touches (delivery log) runs on every server in tests/notify and
    # the expiry-flow tests; the engines and receivers here need not run twice.
    if pg_server.kind != "embedded":
        pytest.skip("notification pipeline test runs on the embedded server only")


def test_every_decision_is_notified_and_failures_are_visible(
    embedded_only: None,
    pipeline_env: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    sns_to_sqs: SnsToSqs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three cases with three different faces: a face seen under two identities would
    # add DUPLICATE_IDENTITY to whichever of them is decided second.
    expected = _landing_with(pipeline_env, shared_data, ["genuine", "impostor", "unreadable"])
    assert sorted(expected.values()) == ["FAIL", "MANUAL_REVIEW", "PASS"]
    failing_app = next(a for a, d in expected.items() if d == "FAIL")

    def respond(r: Received) -> tuple[int, dict[str, str]]:
        # This receiver cannot take the FAIL decision (503 every time).
        if failing_app.encode() in r.body:
            return 503, {"Retry-After": "0"}
        return 204, {}

    webhook_receiver.responder = respond
    current, previous = generate_secret(), generate_secret()
    for key, value in {
        "KYC_WEBHOOK_URL": webhook_receiver.url,
        "KYC_WEBHOOK_SECRET": current,
        "KYC_WEBHOOK_PREVIOUS_SECRET": previous,
        "KYC_SNS_TOPIC_ARN": sns_to_sqs.topic_arn,
        "KYC_SNS_ENDPOINT_URL": sns_to_sqs.endpoint,
        "KYC_SMTP_HOST": smtp_server.host,
        "KYC_SMTP_PORT": str(smtp_server.port),
        "KYC_SMTP_TLS": "none",
        "KYC_REVIEW_EMAIL_TO": "cs-one@example.test, cs-two@example.test",
        "KYC_NOTIFY_MAX_ATTEMPTS": "3",
        "KYC_NOTIFY_BACKOFF_SECONDS": "0",
    }.items():
        monkeypatch.setenv(key, value)
    runtime.reset()

    outcomes = ingest_landing(str(pipeline_env))
    assert {o.application_id: o.decision for o in outcomes} == expected

    # The decisions stand, whatever the receivers did.
    with session_scope(runtime.database()) as s:
        decided = {r.application_id: r for r in list_decisions(s)}
    assert {a: r.decision for a, r in decided.items()} == expected

    # Webhook: every decision, signed with both secrets (rotation), verifiable by
    # an independent implementation with either secret.
    payloads: dict[str, list[dict]] = {}
    for r in webhook_receiver.requests:
        for secret in (current, previous):
            body = _verify_independently(r, secret)
        payloads.setdefault(body["data"]["application_id"], []).append(body)
    assert set(payloads) == set(expected)
    for app_id, bodies in payloads.items():
        data = bodies[0]["data"]
        assert bodies[0]["type"] == "kyc.decision"
        assert set(data) == {"application_id", "decision", "reasons", "decided_at", "version"}
        assert data["decision"] == expected[app_id]
        assert data["reasons"] == decided[app_id].reasons
        assert data["version"] == 1
    assert len(payloads[failing_app]) == 3, "retried up to KYC_NOTIFY_MAX_ATTEMPTS"
    ids = {
        r.headers["webhook-id"] for r in webhook_receiver.requests if failing_app.encode() in r.body
    }
    assert len(ids) == 1, "the same webhook-id on every retry"

    # SNS: every decision too.
    published = [json.loads(m["Message"]) for m in sns_to_sqs.messages(3)]
    assert sorted(p["data"]["decision"] for p in published) == ["FAIL", "MANUAL_REVIEW", "PASS"]

    # Email: only MANUAL_REVIEW, to the customer-service team, no applicant PII.
    ((rcpts, msg),) = smtp_server.messages
    review_app = next(a for a, d in expected.items() if d == "MANUAL_REVIEW")
    assert rcpts == ["cs-one@example.test", "cs-two@example.test"]
    assert review_app in msg["Subject"]
    text = msg.get_content()
    assert "DOCUMENT_UNREADABLE" in text
    form = json.loads(LocalStore(pipeline_env).get(f"incoming/{review_app}/application.json"))
    for pii in (form["first_name"], form["last_name"], form["email"], form["date_of_birth"]):
        assert pii not in text

    # The failure is visible: FAILED after its retries, in `kyc notifications --failed`.
    result = CliRunner().invoke(cli_app, ["notifications", "--failed", "--json"])
    assert result.exit_code == 0, result.output
    failed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [
        (f["channel"], f["application_id"], f["attempt"], f["status_code"]) for f in failed
    ] == [("webhook", failing_app, 3, 503)]
    everything = CliRunner().invoke(cli_app, ["notifications", "--json"]).stdout.splitlines()
    # 3 webhook attempts for FAIL + 1 each for the other two, 3 SNS, 1 email.
    assert len(everything) == 3 + 2 + 3 + 1
    assert all("token=" not in line for line in everything)

    # The receiver recovers: resending delivers the same message (same webhook-id)
    # to the channel that failed only, and nothing is listed as failed any more.
    webhook_receiver.responder = None
    before = len(webhook_receiver.requests)
    result = CliRunner().invoke(cli_app, ["notifications", "--resend-failed", "--failed", "--json"])
    assert result.exit_code == 0, result.output
    assert f"{failing_app} webhook DELIVERED" in result.stderr
    assert result.stdout.strip() == ""
    (resent,) = webhook_receiver.requests[before:]
    assert resent.headers["webhook-id"] in ids
    assert _verify_independently(resent, current)["data"]["decision"] == "FAIL"
    assert sns_to_sqs.messages(1, wait_s=1.0) == [], "SNS had delivered: not resent"

    # The per-application flow (each stage its own task run) notifies too: a
    # re-landed form makes decision version 2, and receivers hear about it.
    from flows.process_application import process_application

    review_form = f"incoming/{review_app}/application.json"
    store = LocalStore(pipeline_env)
    store.put(review_form, store.get(review_form) + b"\n")
    before = len(webhook_receiver.requests)
    outcome = process_application(review_app, str(pipeline_env))
    assert outcome.status == "DECIDED"
    (latest,) = webhook_receiver.requests[before:]
    assert _verify_independently(latest, current)["data"]["version"] == 2
    assert len(smtp_server.messages) == 2
