"""The expiry-reminders flow under the Prefect test harness, against seeded users,
a real SMTP server (aiosmtpd) and SNS → SQS on moto's server."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from types import MappingProxyType

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from flows.expiry import expiry_reminders
from kyc import runtime
from kyc.cli import app as cli_app
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.application import (
    Address,
    Application,
    DocumentClaim,
    DocumentType,
    RegisterType,
    Registration,
)
from kyc.domain.records import Decision, DecisionResult
from tasks import notify as tn
from tests.fixtures.notify import SmtpServer, SnsToSqs

pytestmark = [pytest.mark.db]

MONDAY = dt.date(2026, 12, 7)


def _seed(name: str, expires_in: int, decision: Decision = Decision.PASS) -> str:
    """A user with one decided application whose document expires in ``expires_in`` days."""
    return _seed_application(name, MONDAY + dt.timedelta(days=expires_in), decision)


def _seed_application(
    name: str,
    expiry: dt.date,
    decision: Decision = Decision.PASS,
    application_id: str | None = None,
) -> str:
    app_id = application_id or f"exp-{name}-{uuid.uuid4().hex[:6]}"
    app = Application(
        application_id=app_id,
        email=f"{name}@example.test",
        first_name=name.title(),
        middle_name=None,
        last_name="Tester",
        date_of_birth=dt.date(1985, 5, 17),
        address=Address("1 Main St", "Leeds", "West Yorkshire", "LS1 1AA", "GB"),
        document=DocumentClaim(
            type=DocumentType.DRIVING_LICENCE,
            number=f"N{uuid.uuid4().hex[:10].upper()}",
            issuing_country="GB",
            expiry_date=expiry,
        ),
        registration=Registration(type=RegisterType.NONE, number=None),
    )
    fingerprint = uuid.uuid4().hex
    with session_scope(runtime.database()) as s:
        refs = repo.register_application(
            s,
            application=app,
            landing_uri="/seed",
            input_fingerprint=fingerprint,
            front_key=f"incoming/{app_id}/id_document.jpg",
            front_etag=fingerprint,
            back_key=None,
            back_etag=None,
            selfie_key=f"incoming/{app_id}/selfie.jpg",
            selfie_etag=fingerprint,
        )
        repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=DecisionResult(
                decision=decision,
                findings=(),
                scores=MappingProxyType({}),
                decided_at=dt.datetime.now(dt.UTC),
            ),
            engines={},
            input_fingerprint=fingerprint,
        )
    return app_id


@pytest.fixture
def reminder_env(
    pipeline_env: Path,
    smtp_server: SmtpServer,
    sns_to_sqs: SnsToSqs,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[SmtpServer, SnsToSqs]:
    monkeypatch.setenv("KYC_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("KYC_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("KYC_SMTP_TLS", "none")
    monkeypatch.setenv("KYC_SMTP_USER", "kyc")
    monkeypatch.setenv("KYC_SMTP_PASSWORD", "mail-pass")
    monkeypatch.setenv("KYC_SMTP_FROM", "kyc@example.test")
    monkeypatch.setenv("KYC_SNS_TOPIC_ARN", sns_to_sqs.topic_arn)
    monkeypatch.setenv("KYC_SNS_ENDPOINT_URL", sns_to_sqs.endpoint)
    monkeypatch.setenv("KYC_NOTIFY_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("KYC_NOTIFY_MAX_ATTEMPTS", "2")
    runtime.reset()
    return smtp_server, sns_to_sqs


def _sent_rows() -> list[tuple[str, int]]:
    with runtime.database().connect() as conn:
        return [
            (r[0], r[1])
            for r in conn.execute(
                sa.text(
                    "SELECT u.email, r.threshold_days FROM reminders_sent r "
                    "JOIN users u USING (user_id) ORDER BY 1"
                )
            )
        ]


def test_reminders_once_per_threshold_with_email_and_sns(
    reminder_env: tuple[SmtpServer, SnsToSqs],
) -> None:
    smtp, sns = reminder_env
    _seed("ninety", 85)  # crossed 90 five days ago: a late run still sends it
    _seed("thirty", 30)
    _seed("seven", 5)
    _seed("far", 200)
    _seed("expired", -3)
    _seed("rejected", 20, Decision.FAIL)
    # A user whose newer decided document replaces the one about to expire.
    old = _seed("renewed", 10)
    # Re-landing the same application id with a new document (new fingerprint).
    _seed_application("renewed", MONDAY + dt.timedelta(days=3000), application_id=old)

    run = expiry_reminders(MONDAY.isoformat())

    assert run.configured and (run.due, run.sent, run.failed) == (3, 3, 0)
    by_rcpt = {rcpts[0]: msg for rcpts, msg in smtp.messages}
    assert set(by_rcpt) == {
        "ninety@example.test",
        "thirty@example.test",
        "seven@example.test",
    }
    assert "in 85 days" in by_rcpt["ninety@example.test"]["Subject"]
    assert "2027-01-06" in by_rcpt["thirty@example.test"].get_content()
    assert by_rcpt["seven@example.test"]["X-KYC-Event"] == "kyc.document_expiring"
    published = sns.messages(3)
    assert sorted(p["Subject"] for p in published) == sorted(m["Subject"] for m in by_rcpt.values())


    datas = [json.loads(p["Message"])["data"] for p in published]
    assert sorted(d["threshold_days"] for d in datas) == [7, 30, 90]
    assert all("@" not in json.dumps(d) for d in datas), "no email addresses on SNS"
    assert _sent_rows() == [
        ("ninety@example.test", 90),
        ("seven@example.test", 7),
        ("thirty@example.test", 30),
    ]

    # Re-running the same day (or the schedule firing twice) sends nothing.
    again = expiry_reminders(MONDAY.isoformat())
    assert (again.due, again.sent) == (0, 0)
    assert len(smtp.messages) == 3

    # Eight weeks later the first user crosses 30 days; nobody else gets anything.
    later = expiry_reminders((MONDAY + dt.timedelta(days=56)).isoformat())
    assert (later.due, later.sent) == (1, 1)
    assert smtp.messages[-1][0] == ["ninety@example.test"]
    assert "in 29 days" in smtp.messages[-1][1]["Subject"]


def test_a_claimed_reminder_is_not_sent_twice(reminder_env: tuple[SmtpServer, SnsToSqs]) -> None:
    smtp, _ = reminder_env
    _seed("twice", 6)
    (due,) = tn.find_due_reminders.fn(MONDAY)
    first = tn.send_reminder.fn(due)
    second = tn.send_reminder.fn(due)  # e.g. two overlapping runs found the same reminder
    assert (first.status, second.status) == ("SENT", "ALREADY_SENT")
    assert len(smtp.messages) == 1


def test_smtp_down_records_nothing_and_the_next_run_sends(
    reminder_env: tuple[SmtpServer, SnsToSqs], monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp, sns = reminder_env
    _seed("later", 7)
    monkeypatch.setenv("KYC_SMTP_PORT", "1")  # nothing listens on port 1
    runtime.reset()
    run = expiry_reminders(MONDAY.isoformat())
    assert (run.due, run.sent, run.failed) == (1, 0, 1)
    assert _sent_rows() == []
    assert sns.messages(1, wait_s=1.5) == [], "SNS waits for the email to go out"
    result = CliRunner().invoke(cli_app, ["notifications", "--failed", "--json"])
    assert result.exit_code == 0, result.output
    assert '"channel": "email"' in result.stdout and '"status": "FAILED"' in result.stdout
    assert "later@example.test" not in result.stdout, "no addresses in the delivery log"

    monkeypatch.setenv("KYC_SMTP_PORT", str(smtp.port))
    runtime.reset()
    result = CliRunner().invoke(
        cli_app, ["expiry-reminders", "--today", MONDAY.isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"sent": 1' in result.stdout
    assert [r for r, _ in smtp.messages] == [["later@example.test"]]


def test_nothing_configured_sends_nothing(pipeline_env: Path) -> None:
    _seed("nobody", 7)
    run = expiry_reminders(MONDAY.isoformat())
    assert not run.configured and run.sent == 0
    assert _sent_rows() == []


def test_prefect_yaml_schedules_the_flow_weekly_monday_8am_london() -> None:
    """The deployment entry: Prefect's own schedule model gives Mondays 08:00 London,
    across the clock change (07:00 UTC in summer, 08:00 UTC in winter)."""
    import asyncio
    import importlib
    from zoneinfo import ZoneInfo

    import yaml
    from prefect.server.schemas.schedules import CronSchedule

    from kyc.settings import PROJECT_ROOT

    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    (entry,) = [d for d in spec["deployments"] if d["name"] == "expiry-reminders"]
    module, _, name = entry["entrypoint"].partition(":")
    flow_obj = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
    assert flow_obj.name == "expiry-reminders"
    (sched,) = entry["schedules"]
    assert sched["active"] is True
    dates = asyncio.run(
        CronSchedule(cron=sched["cron"], timezone=sched["timezone"]).get_dates(
            n=3, start=dt.datetime(2026, 3, 20, tzinfo=ZoneInfo("UTC"))
        )
    )
    utc = [d.astimezone(ZoneInfo("UTC")) for d in dates]
    assert [(d.date().isoformat(), d.hour) for d in utc] == [
        ("2026-03-23", 8),  # GMT
        ("2026-03-30", 7),  # BST from 29 March
        ("2026-04-06", 7),
    ]
    assert all(d.weekday() == 0 for d in utc)
