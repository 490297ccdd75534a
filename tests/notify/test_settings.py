"""Notification settings from the environment: comma lists, validation at start-up."""

from __future__ import annotations

import pydantic
import pytest

from kyc.notify.dispatch import build_channels, decision_notifications_configured
from kyc.notify.webhook import generate_secret
from kyc.settings import Settings


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(f"KYC_{key.upper()}", value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_defaults_notify_nobody_and_cover_every_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(monkeypatch)
    assert s.notify_decisions == ["PASS", "MANUAL_REVIEW", "FAIL"]
    assert s.expiry_reminder_days == [90, 30, 7]
    assert not decision_notifications_configured(s)
    assert not build_channels(s).any


def test_comma_separated_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(
        monkeypatch,
        notify_decisions="PASS, FAIL",
        review_email_to="a@example.test,b@example.test",
        expiry_reminder_days="60,14",
    )
    assert s.notify_decisions == ["PASS", "FAIL"]
    assert s.review_email_to == ["a@example.test", "b@example.test"]
    assert s.expiry_reminder_days == [60, 14]


@pytest.mark.parametrize(
    "env",
    [
        {"notify_decisions": "PASS,MAYBE"},
        {"expiry_reminder_days": "30,0"},
        {"webhook_url": "https://hooks.example.test/kyc"},  # no secret: never unsigned
        {"webhook_url": "https://hooks.example.test/kyc", "webhook_secret": "plain-text-secret"},
        {"smtp_tls": "sometimes"},
    ],
)
def test_bad_configuration_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with pytest.raises(pydantic.ValidationError):
        _settings(monkeypatch, **env)


def test_configured_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    s = _settings(
        monkeypatch,
        webhook_url="https://hooks.example.test/kyc?token=abc",
        webhook_secret=generate_secret(),
        webhook_previous_secret=generate_secret(),
        smtp_host="127.0.0.1",
        review_email_to="cs@example.test",
    )
    assert decision_notifications_configured(s)
    channels = build_channels(s)
    assert channels.webhook is not None and channels.webhook.target == (
        "https://hooks.example.test/kyc"
    )
    assert channels.review_email is not None and channels.reminder_email is not None
    assert channels.sns is None
