"""The notification outbox: written with the decision, sent at least once, one webhook id."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kyc.db.outbox import DECISION_EVENT
from kyc.notify.base import message_id
from kyc.notify.webhook import generate_secret
from kyc.runtime import Runtime
from kyc.services import notify as notify_service
from tests.fixtures.notify import WebhookReceiver
from tests.services.conftest import decided_case, hooked_runtime, rows

pytestmark = pytest.mark.db

SECRET = generate_secret()


@pytest.fixture
def hooked(db_url: str, landing: Path, webhook_receiver: WebhookReceiver) -> Iterator[Runtime]:
    yield from hooked_runtime(db_url, landing, webhook_receiver.url, SECRET, max_attempts=2)


def decided(rt: Runtime, landing: Path, shared: Path) -> str:
    """A committed decision whose process 'died' before notifying anyone."""
    return decided_case(rt, landing, shared).application_id


def outbox_row(rt: Runtime, app_id: str) -> dict[str, object]:
    (row,) = rows(rt, "SELECT * FROM notification_outbox WHERE application_id = :a", a=app_id)
    return dict(row._mapping)


def test_the_decision_transaction_writes_its_message(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = decided(rt, landing, shared_data)
    row = outbox_row(rt, app_id)
    assert row["message_id"] == message_id(DECISION_EVENT, app_id, 1)
    assert row["sent_at"] is None and row["attempts"] == 0
    assert row["payload"]["decision"] == "MANUAL_REVIEW"  # type: ignore[index]
    # ids, codes and dates only: no form value in the message
    assert set(row["payload"]) == {"decision", "reasons", "decided_at"}  # type: ignore[arg-type]


def test_a_crash_after_the_commit_loses_nothing(
    rt: Runtime,
    hooked: Runtime,
    landing: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    app_id = decided(rt, landing, shared_data)  # committed, never notified
    sent = notify_service.dispatch_outbox(hooked)  # the scheduled dispatcher, later
    assert "webhook:DELIVERED" in sent
    ids = {r.headers["webhook-id"] for r in webhook_receiver.requests}
    assert message_id(DECISION_EVENT, app_id, 1) in ids
    assert outbox_row(rt, app_id)["sent_at"] is not None
    before = len(webhook_receiver.requests)
    assert notify_service.dispatch_outbox(hooked, application_id=app_id) == []
    assert len(webhook_receiver.requests) == before  # sent once


def test_a_receiver_down_gets_the_same_message_again_later(
    rt: Runtime,
    hooked: Runtime,
    landing: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    app_id = decided(rt, landing, shared_data)
    webhook_receiver.script = [(503, {}), (503, {})]  # both attempts of the first dispatch
    assert notify_service.dispatch_outbox(hooked, application_id=app_id) == ["webhook:FAILED"]
    row = outbox_row(rt, app_id)
    assert row["sent_at"] is None and row["attempts"] == 1 and row["last_error"]
    # not due yet: nothing is sent
    assert notify_service.dispatch_outbox(hooked, application_id=app_id) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert notify_service.dispatch_outbox(hooked, application_id=app_id, now=later) == [
        "webhook:DELIVERED"
    ]
    ids = [r.headers["webhook-id"] for r in webhook_receiver.requests[-3:]]
    assert set(ids) == {message_id(DECISION_EVENT, app_id, 1)}
    assert outbox_row(rt, app_id)["delivered"] == ["webhook"]


def test_nothing_configured_marks_the_message_sent(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = decided(rt, landing, shared_data)
    assert notify_service.notify_decision_made(rt, app_id, "ignored") == []
    assert outbox_row(rt, app_id)["sent_at"] is not None


def test_two_dispatchers_send_each_message_once(
    rt: Runtime,
    hooked: Runtime,
    db_url: str,
    landing: Path,
    shared_data: Path,
    webhook_receiver: WebhookReceiver,
) -> None:
    apps = [decided(rt, landing, shared_data) for _ in range(6)]
    other = Runtime(hooked.settings.model_copy())
    try:
        start = len(webhook_receiver.requests)
        threads = [
            threading.Thread(target=notify_service.dispatch_outbox, args=(r,))
            for r in (hooked, other)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent = [r.headers["webhook-id"] for r in webhook_receiver.requests[start:]]
        wanted = {message_id(DECISION_EVENT, a, 1) for a in apps}
        assert wanted <= set(sent)
        assert len([s for s in sent if s in wanted]) == len(wanted)  # none twice
    finally:
        other.close()
