"""Apify register client against a loopback server implementing the Apify API."""

from __future__ import annotations

import pytest

from kyc.clients.http import RetryPolicy
from kyc.domain.records import RegisterOutcome
from kyc.engines.base import EngineUnavailable
from kyc.engines.register_apify import ApifyRegisterClient, prefect_resume_webhook
from tests.fixtures.registers import FakeApify, Receiver, fake_apify, receiver

ITEM = {"registrationNumber": "7123456", "found": True, "name": "Dr Noah Walker",
        "status": "Registered with a licence to practise", "conditions": [], "snapshotDate": "2026-11-20"}


def _client(base: str, **kw) -> ApifyRegisterClient:
    opts = {"token": "apify-test-token", "actors": {"GMC": "kyc~gmc-register"}, "api_url": base,
            "policy": RetryPolicy(retries=2, backoff_seconds=0.01), "rate_per_second": 1000.0,
            "max_wait_seconds": 10.0}
    opts.update(kw)
    return ApifyRegisterClient(**opts)


def test_start_poll_collect() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, polls_to_finish=3)
    with fake_apify(api) as base:
        r = _client(base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.FOUND and r.name == "Dr Noah Walker"
    assert r.snapshot_date is not None and r.snapshot_date.isoformat() == "2026-11-20"
    assert r.raw["run_id"] == api.started[0]["run_id"]
    assert api.started[0]["input"] == {"register": "GMC", "registrationNumber": "7123456"}
    assert api.started[0]["actor"] == "kyc~gmc-register"
    assert all(t == "Bearer apify-test-token" for t in api.token_seen)


def test_poll_backs_off_exponentially() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, polls_to_finish=4)
    sleeps: list[float] = []
    with fake_apify(api) as base:
        client = _client(base, sleep=sleeps.append, policy=RetryPolicy(retries=0, backoff_seconds=0.1))
        assert client.lookup("GMC", "7123456").outcome is RegisterOutcome.FOUND
    assert len(sleeps) == 3
    assert sleeps[1] == pytest.approx(2 * sleeps[0], rel=0.05)
    assert sleeps[2] == pytest.approx(2 * sleeps[1], rel=0.05)


def test_not_found_item() -> None:
    api = FakeApify(items={("GMC", "7000000"): [{"registrationNumber": "7000000", "found": False}]})
    with fake_apify(api) as base:
        assert _client(base).lookup("GMC", "7000000").outcome is RegisterOutcome.NOT_FOUND


def test_failed_run_is_unavailable() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, final_status="FAILED")
    with fake_apify(api) as base:
        r = _client(base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "FAILED" in r.detail


def test_run_that_does_not_finish_in_time_is_unavailable() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, polls_to_finish=10_000)
    with fake_apify(api) as base:
        r = _client(base, max_wait_seconds=0.3).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "did not finish" in r.detail


def test_429_on_start_is_retried_by_the_client() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, start_failures=[429])
    with fake_apify(api) as base:
        r = _client(base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.FOUND and len(api.started) == 1


def test_api_down_after_retries_is_unavailable() -> None:
    api = FakeApify(start_failures=[500, 500, 500])
    with fake_apify(api) as base:
        r = _client(base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and r.detail.startswith("Apify:")


def test_malformed_item_is_unavailable() -> None:
    api = FakeApify(items={("GMC", "7123456"): [{"registrationNumber": "7123456", "found": True}]})
    with fake_apify(api) as base:
        r = _client(base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "without name" in r.detail


def test_register_without_actor_is_unavailable() -> None:
    with fake_apify(FakeApify()) as base:
        r = _client(base).lookup("NMC", "98Y1234D")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "no Apify actor" in r.detail


def test_not_configured_fails_clearly() -> None:
    with pytest.raises(EngineUnavailable, match="KYC_APIFY_TOKEN"):
        ApifyRegisterClient(token=None, actors={"GMC": "a~b"})
    with pytest.raises(EngineUnavailable, match="KYC_APIFY_ACTORS"):
        ApifyRegisterClient(token="t", actors={})


def test_webhook_is_called_with_the_resume_payload_when_the_run_ends() -> None:
    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, polls_to_finish=1)
    rec = Receiver()
    with fake_apify(api) as base, receiver(rec) as target:
        client = _client(base)
        hook = prefect_resume_webhook(f"{target}/api", "0f0e-run", auth_header="Authorization: Bearer pnu_x")
        run_id = client.start("GMC", "7123456", webhook=hook)
        assert client.wait("GMC", run_id) == "SUCCEEDED"
        assert client.collect("GMC", "7123456", run_id).outcome is RegisterOutcome.FOUND
    [(path, body, headers)] = rec.bodies
    assert path == "/api/flow_runs/0f0e-run/resume"
    assert body == {"run_input": {"event_type": "ACTOR.RUN.SUCCEEDED",
                                  "event_data": {"actorId": "kyc~gmc-register", "actorRunId": run_id}}}
    assert headers["Authorization"] == "Bearer pnu_x"


@pytest.mark.parametrize("auth", [None, "kyc-ops:s3cret-enough-1"])
def test_a_resumable_run_sends_the_prefect_credential_when_there_is_one(auth: str | None) -> None:
    from kyc.settings import basic_authorization

    api = FakeApify(items={("GMC", "7123456"): [ITEM]}, polls_to_finish=1)
    rec = Receiver()
    with fake_apify(api) as base, receiver(rec) as target:
        client = _client(base)
        run_id = client.start_resumable("GMC", "7123456", prefect_api_url=f"{target}/api",
                                        flow_run_id="0f0e-run", prefect_auth_string=auth)
        assert client.wait("GMC", run_id) == "SUCCEEDED"
    [(path, _, headers)] = rec.bodies
    assert path == "/api/flow_runs/0f0e-run/resume"
    if auth is None:
        assert "Authorization" not in headers
    else:
        assert headers["Authorization"] == basic_authorization(auth)
