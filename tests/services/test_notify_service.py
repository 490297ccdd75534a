"""Decision notifications through the service, to a real webhook receiver on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kyc.db.engine import session_scope
from kyc.db.notifications import list_deliveries
from kyc.notify.webhook import generate_secret, verify
from kyc.runtime import Runtime
from kyc.services import notify as notify_service
from tests.fixtures.notify import WebhookReceiver
from tests.services.conftest import decided_case, hooked_runtime, rows, service_settings

pytestmark = pytest.mark.db

SECRET = generate_secret()


@pytest.fixture
def hooked(db_url: str, landing: Path, webhook_receiver: WebhookReceiver) -> Iterator[Runtime]:
    """A runtime on the module's database whose settings name the webhook receiver."""
    yield from hooked_runtime(db_url, landing, webhook_receiver.url, SECRET, max_attempts=3)


def test_nothing_configured_notifies_nobody(
    rt: Runtime, landing: Path, shared_data: Path, webhook_receiver: WebhookReceiver
) -> None:
    assert notify_service.notifications_configured(rt) is False
    case = decided_case(rt, landing, shared_data)
    assert (
        notify_service.notify_decision_made(rt, case.application_id, case.bundle.fingerprint) == []
    )
    assert webhook_receiver.requests == []
    assert rows(
        rt,
        "select count(*) from notification_deliveries where application_id = :a",
        a=case.application_id,
    ) == [(0,)]


def test_decision_delivered_as_a_signed_webhook_and_logged(
    rt: Runtime,
    hooked: Runtime,
    landing: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    assert notify_service.notifications_configured(hooked) is True
    case = decided_case(rt, landing, shared_data)
    webhook_receiver.script = [(503, {"Retry-After": "0"})]  # busy once, then 200

    sent = notify_service.notify_decision_made(hooked, case.application_id, case.bundle.fingerprint)
    assert sent == ["webhook:DELIVERED"]

    assert len(webhook_receiver.requests) == 2
    first, delivered = webhook_receiver.requests
    # the retry is the same message (receivers de-duplicate on webhook-id)
    assert first.headers["webhook-id"] == delivered.headers["webhook-id"]
    payload = verify(delivered.body, delivered.headers, [SECRET])
    data = payload["data"]
    assert (data["application_id"], data["decision"], data["version"]) == (
        case.application_id,
        "MANUAL_REVIEW",
        1,
    )
    with pytest.raises(ValueError, match="signature"):
        verify(delivered.body, delivered.headers, [generate_secret()])

    with session_scope(hooked.db) as s:
        log = list_deliveries(s, application_id=case.application_id)
    attempts = sorted(log, key=lambda d: d["attempt"])
    assert [(d["channel"], d["attempt"], d["status"], d["status_code"]) for d in attempts] == [
        ("webhook", 1, "RETRYING", 503),
        ("webhook", 2, "DELIVERED", 200),
    ]
    assert {d["message_id"] for d in attempts} == {delivered.headers["webhook-id"]}
    # the log names the receiver without its query string (a token there is a secret)
    assert all("s3cr3t" not in d["target"] and d["target"].endswith("/hooks/kyc") for d in attempts)


def test_no_decision_no_notification(hooked: Runtime, webhook_receiver: WebhookReceiver) -> None:
    assert notify_service.notify_decision_made(hooked, "never-decided", "0" * 64) == []
    assert webhook_receiver.requests == []


def test_decisions_not_subscribed_are_not_sent(
    rt: Runtime,
    db_url: str,
    landing: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    only_fail = Runtime(
        service_settings(
            db_url, landing, webhook_url=webhook_receiver.url, webhook_secret=SECRET,
            notify_decisions=["FAIL"],
        )
    )  # fmt: skip
    try:
        case = decided_case(rt, landing, shared_data)  # MANUAL_REVIEW
        assert (
            notify_service.notify_decision_made(
                only_fail, case.application_id, case.bundle.fingerprint
            )
            == []
        )
        assert webhook_receiver.requests == []
    finally:
        only_fail.close()
