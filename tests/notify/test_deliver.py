"""The retry loop against a real HTTP receiver, routing by decision, and the delivery log."""

from __future__ import annotations

import datetime as dt

import pytest

from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.notifications import list_deliveries
from kyc.notify.base import (
    Attempt,
    CircuitBreaker,
    DeliveryFailed,
    Notification,
    RetryPolicy,
    deliver,
)
from kyc.notify.dispatch import Channels as ChannelSet
from kyc.notify.dispatch import DecisionEvent, notify_decision
from kyc.notify.webhook import WebhookChannel, generate_secret, verify
from kyc.services.notify import record_attempt
from tests.fixtures.notify import WebhookReceiver

N = Notification(
    message_id="msg_deliver",
    event="kyc.decision",
    application_id="app-1",
    data={"application_id": "app-1", "decision": "PASS"},
    subject="s",
    text="t",
)


def _run(receiver: WebhookReceiver, policy: RetryPolicy) -> tuple[list[Attempt], list[float], bool]:
    secret = generate_secret()
    attempts: list[Attempt] = []
    sleeps: list[float] = []
    result = deliver(
        WebhookChannel(receiver.url, [secret], timeout_seconds=5),
        N,
        policy=policy,
        record=attempts.append,
        sleep=sleeps.append,
    )
    for r in receiver.requests:  # every attempt was signed and verifiable
        verify(r.body, r.headers, [secret])
    return attempts, sleeps, result.delivered


def test_retry_after_is_honoured_and_the_message_id_is_stable(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script = [(503, {"Retry-After": "3"}), (429, {"Retry-After": "120"})]
    attempts, sleeps, delivered = _run(
        webhook_receiver, RetryPolicy(max_attempts=4, backoff_seconds=0.01, max_delay_seconds=60)
    )
    assert delivered
    assert [(a.attempt, a.status, a.status_code) for a in attempts] == [
        (1, "RETRYING", 503),
        (2, "RETRYING", 429),
        (3, "DELIVERED", 200),
    ]
    assert sleeps == [3.0, 60.0]  # Retry-After, then capped at max_delay_seconds
    assert {r.headers["webhook-id"] for r in webhook_receiver.requests} == {"msg_deliver"}
    assert all(a.latency_ms > 0 for a in attempts)
    assert attempts[0].target == webhook_receiver.url.split("?")[0]


def test_client_errors_are_not_retried(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.default = (410, {})
    attempts, sleeps, delivered = _run(webhook_receiver, RetryPolicy(max_attempts=5))
    assert not delivered
    assert [(a.status, a.status_code, a.error) for a in attempts] == [("FAILED", 410, "HTTP 410")]
    assert sleeps == []


def test_exponential_backoff_then_failed(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.default = (500, {})
    attempts, sleeps, delivered = _run(
        webhook_receiver, RetryPolicy(max_attempts=4, backoff_seconds=1, max_delay_seconds=30)
    )
    assert not delivered
    assert [a.status for a in attempts] == ["RETRYING", "RETRYING", "RETRYING", "FAILED"]
    assert len(webhook_receiver.requests) == 4
    for n, wait in enumerate(sleeps, start=1):
        base = 2 ** (n - 1)
        assert base / 2 <= wait <= base  # jittered in the upper half of each step


def test_a_broken_log_does_not_stop_delivery(webhook_receiver: WebhookReceiver) -> None:
    def broken(attempt: Attempt) -> None:
        raise RuntimeError("log down")

    secret = generate_secret()
    result = deliver(
        WebhookChannel(webhook_receiver.url, [secret]), N, policy=RetryPolicy(), record=broken
    )
    assert result.delivered and len(webhook_receiver.requests) == 1


class _Recorder:
    """Unit-test fake channel: records what it is sent."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.target, self.fail = name, f"fake://{name}", fail
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> int | None:
        self.sent.append(notification)
        if self.fail:
            raise DeliveryFailed("down", retryable=False)
        return 200


@pytest.mark.parametrize(
    ("decision", "allowed", "expected"),
    [
        ("PASS", ["PASS", "MANUAL_REVIEW", "FAIL"], {"webhook", "sns"}),
        ("FAIL", ["PASS", "MANUAL_REVIEW", "FAIL"], {"webhook", "sns"}),
        ("MANUAL_REVIEW", ["PASS", "MANUAL_REVIEW", "FAIL"], {"webhook", "sns", "email"}),
        ("FAIL", ["PASS"], set()),
        ("MANUAL_REVIEW", ["PASS"], {"email"}),  # the review team is told regardless
    ],
)
def test_routing_by_decision(decision: str, allowed: list[str], expected: set[str]) -> None:
    webhook, sns, email = _Recorder("webhook"), _Recorder("sns"), _Recorder("email")
    event = DecisionEvent("app-9", 2, decision, ("DOB_MISMATCH",), dt.datetime(2026, 1, 1))
    results = notify_decision(
        event,
        ChannelSet(webhook=webhook, sns=sns, review_email=email),
        decisions=allowed,
        policy=RetryPolicy(max_attempts=1),
    )
    assert {r.channel for r in results} == expected
    for channel in (webhook, sns, email):
        for n in channel.sent:
            assert n.data == {
                "application_id": "app-9",
                "decision": decision,
                "reasons": ["DOB_MISMATCH"],
                "decided_at": "2026-01-01T00:00:00+00:00",
                "version": 2,
            }


def test_one_channel_failing_does_not_stop_the_others() -> None:
    webhook, sns = _Recorder("webhook", fail=True), _Recorder("sns")
    event = DecisionEvent("app-9", 1, "PASS", (), dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    results = notify_decision(
        event,
        ChannelSet(webhook=webhook, sns=sns),
        decisions=["PASS"],
        policy=RetryPolicy(max_attempts=3),
    )
    assert [(r.channel, r.delivered) for r in results] == [("webhook", False), ("sns", True)]


@pytest.mark.db
def test_delivery_log_keeps_every_attempt(
    fresh_pg_url: str, monkeypatch: pytest.MonkeyPatch, webhook_receiver: WebhookReceiver
) -> None:
    monkeypatch.setenv("KYC_DATABASE_URL", fresh_pg_url)
    runtime.reset()
    try:
        webhook_receiver.default = (503, {})
        deliver(
            WebhookChannel(webhook_receiver.url, [generate_secret()]),
            N,
            policy=RetryPolicy(max_attempts=3, backoff_seconds=0),
            record=lambda a: record_attempt(runtime.current(), a),
        )
        with session_scope(runtime.database()) as s:
            everything = list_deliveries(s)
            failed = list_deliveries(s, failed_only=True)
    finally:
        runtime.reset()
    assert [(r["attempt"], r["status"], r["status_code"]) for r in reversed(everything)] == [
        (1, "RETRYING", 503),
        (2, "RETRYING", 503),
        (3, "FAILED", 503),
    ]
    assert [r["message_id"] for r in failed] == ["msg_deliver"]
    assert all("token" not in r["target"] for r in everything)


def test_circuit_breaker_stops_waiting_on_a_dead_receiver() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, cooldown_seconds=60, clock=lambda: now[0])
    dead = _Recorder("webhook", fail=True)
    attempts: list[Attempt] = []

    def send() -> bool:
        return deliver(
            dead, N, policy=RetryPolicy(max_attempts=1), record=attempts.append, breaker=breaker
        ).delivered

    assert not send() and not send()  # two real failures open the circuit
    assert len(dead.sent) == 2
    assert not send()  # skipped at once, still logged as FAILED
    assert len(dead.sent) == 2
    assert attempts[-1].status == "FAILED" and "circuit open" in (attempts[-1].error or "")
    now[0] = 61.0
    dead.fail = False
    assert send()  # after the cool-down one delivery is tried; success closes it
    assert send() and len(dead.sent) == 4
    # Another target is unaffected by this one's circuit.
    other = _Recorder("sns")
    assert deliver(other, N, policy=RetryPolicy(), breaker=breaker).delivered
