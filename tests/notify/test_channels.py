"""One contract suite over every notification Channel, each against a real receiver:
webhook → http.server on loopback, SNS → moto's server with an SQS subscription,
email → aiosmtpd on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kyc.notify.base import Channel, DeliveryFailed, Notification, message_id
from kyc.notify.email import EmailChannel
from kyc.notify.sns import SnsChannel
from kyc.notify.webhook import WebhookChannel, generate_secret, verify
from tests.fixtures.notify import SmtpServer, SnsToSqs, WebhookReceiver
from tests.fixtures.s3 import REGION


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: nobody listens


@dataclass
class Case:
    channel: Channel
    #: message ids and data payloads the receiver got
    received: Callable[[], list[tuple[str, dict[str, Any]]]]
    unreachable: Channel
    secrets_not_in_target: tuple[str, ...] = ()


def _webhook(receiver: WebhookReceiver) -> Case:
    secret = generate_secret()

    def received() -> list[tuple[str, dict[str, Any]]]:
        out = []
        for r in receiver.requests:
            payload = verify(r.body, r.headers, [secret])
            out.append((r.headers["webhook-id"], payload["data"]))
        return out

    return Case(
        WebhookChannel(receiver.url, [secret], timeout_seconds=5),
        received,
        WebhookChannel(f"http://127.0.0.1:{_closed_port()}/x", [secret], timeout_seconds=2),
        secrets_not_in_target=("token=s3cr3t", secret),
    )


def _sns(box: SnsToSqs) -> Case:
    def received() -> list[tuple[str, dict[str, Any]]]:
        out = []
        for envelope in box.messages(1):
            body = json.loads(envelope["Message"])
            assert envelope["MessageAttributes"]["type"]["Value"] == body["type"]
            out.append((body["message_id"], body["data"]))
        return out

    return Case(
        SnsChannel(box.topic_arn, region=REGION, endpoint_url=box.endpoint),
        received,
        SnsChannel(box.topic_arn, region=REGION, endpoint_url=f"http://127.0.0.1:{_closed_port()}"),
    )


def _email(server: SmtpServer) -> Case:
    def received() -> list[tuple[str, dict[str, Any]]]:
        return [
            (msg["X-KYC-Message-Id"], {"text": msg.get_content()}) for _, msg in server.messages
        ]

    return Case(
        EmailChannel(
            server.host,
            server.port,
            sender="kyc@example.test",
            default_to=["cs-team@example.test"],
            tls="none",
            user="kyc",
            password="mail-pass",
            timeout_seconds=5,
        ),
        received,
        EmailChannel(
            "127.0.0.1",
            _closed_port(),
            sender="kyc@example.test",
            default_to=["cs-team@example.test"],
            tls="none",
            timeout_seconds=2,
        ),
        secrets_not_in_target=("mail-pass",),
    )


@pytest.fixture(params=["webhook", "sns", "email"])
def case(request: pytest.FixtureRequest) -> Case:
    if request.param == "webhook":
        return _webhook(request.getfixturevalue("webhook_receiver"))
    if request.param == "sns":
        return _sns(request.getfixturevalue("sns_to_sqs"))
    return _email(request.getfixturevalue("smtp_server"))


def _notification() -> Notification:
    return Notification(
        message_id=message_id("contract", "a-1", 1),
        event="kyc.decision",
        application_id="a-1",
        data={"application_id": "a-1", "decision": "MANUAL_REVIEW", "reasons": ["DOB_MISMATCH"]},
        subject="KYC MANUAL_REVIEW: application a-1",
        text="Application a-1 needs review.\nReasons: DOB_MISMATCH\n",
    )


def test_delivers_to_a_real_receiver(case: Case) -> None:
    n = _notification()
    assert isinstance(case.channel, Channel)
    status = case.channel.send(n)
    assert status in {200, 250}
    got = case.received()
    assert [mid for mid, _ in got] == [n.message_id]
    data = got[0][1]
    assert data.get("decision") == "MANUAL_REVIEW" or "DOB_MISMATCH" in data.get("text", "")


def test_unreachable_receiver_is_a_retryable_failure(case: Case) -> None:
    with pytest.raises(DeliveryFailed) as info:
        case.unreachable.send(_notification())
    assert info.value.retryable


def test_target_is_safe_to_log(case: Case) -> None:
    assert case.channel.name in {"webhook", "sns", "email"}
    for secret in case.secrets_not_in_target:
        assert secret not in case.channel.target


def test_email_goes_to_the_notifications_own_recipients(smtp_server: SmtpServer) -> None:
    channel = _email(smtp_server).channel
    n = _notification()
    channel.send(
        Notification(
            n.message_id, n.event, n.data, n.subject, n.text, recipients=("holder@example.test",)
        )
    )
    ((rcpts, msg),) = smtp_server.messages
    assert rcpts == ["holder@example.test"]
    assert msg["To"] == "holder@example.test"
    assert smtp_server.logins == ["kyc"]


def test_email_wrong_password_is_not_retried(smtp_server: SmtpServer) -> None:
    channel = EmailChannel(
        smtp_server.host,
        smtp_server.port,
        sender="kyc@example.test",
        default_to=["cs@example.test"],
        tls="none",
        user="kyc",
        password="wrong",
        timeout_seconds=5,
    )
    with pytest.raises(DeliveryFailed) as info:
        channel.send(_notification())
    assert not info.value.retryable
    assert info.value.status_code == 535
    assert smtp_server.messages == []


def test_sns_unknown_topic_is_not_retried(sns_to_sqs: SnsToSqs) -> None:
    arn = sns_to_sqs.topic_arn + "-missing"
    channel = SnsChannel(arn, region=REGION, endpoint_url=sns_to_sqs.endpoint)
    with pytest.raises(DeliveryFailed) as info:
        channel.send(_notification())
    assert not info.value.retryable


# --------------------------------------------------------------------------------------
# form values cannot write the email (issue 16)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_name", "expected"),
    [
        ("Jane", "Jane"),
        ("  Marie-Claire  ", "Marie-Claire"),
        ("Siobhán", "Siobhán"),
        ("D'Arcy", "D'Arcy"),
        ("Анна", "Анна"),
        ("Jane,\n\nYour account is locked: visit http://evil.example", None),
        ("Jane\r\nBcc: victim@example.com", None),
        ("<a href='x'>Jane</a>", None),
        ("J" * 61, None),
        ("", None),
        ("1337", None),
    ],
)
def test_greeting_uses_only_a_plain_name(first_name: str, expected: str | None) -> None:
    from kyc.notify.dispatch import greeting_name

    assert greeting_name(first_name) == expected


def test_a_hostile_first_name_does_not_reach_the_reminder_email() -> None:
    import datetime as dt

    from kyc.notify.dispatch import ExpiryReminder, reminder_notification
    from kyc.notify.email import EmailChannel

    reminder = ExpiryReminder(
        user_id="u",
        id_document_id="d",
        application_id="a",
        email="jane@example.com",
        first_name="Jane,\n\nPlease pay a fee at http://evil.example\n\nDear Jane",
        expiry_date=dt.date(2030, 1, 1),
        threshold_days=30,
        days_left=30,
    )
    note = reminder_notification(reminder)
    assert note.text.startswith("Hello,\n")
    assert "evil" not in note.text
    msg = EmailChannel(host="localhost", port=25, sender="kyc@localhost", tls="none").message(note)
    assert msg["To"] == "jane@example.com" and "evil" not in msg.as_string()
