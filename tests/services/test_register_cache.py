"""Register checks through the database cache (TTL) in front of a real HTTP register."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kyc.clients.http import RetryPolicy
from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.domain.records import RegisterOutcome
from kyc.engines.register_http import HttpRegisterClient
from kyc.services.registers import RegisterChecker
from tests.fixtures.registers import RegisterSite, register_site

pytestmark = pytest.mark.db


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def engine(fresh_pg_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(fresh_pg_url)
    yield eng
    eng.dispose()


@pytest.fixture
def number() -> str:
    # A number of its own per test: the cache is keyed on it.
    return "7" + str(uuid.uuid4().int)[:6]


def _checker(site: RegisterSite, base: str, engine: sa.Engine, clock: Clock, ttl: int = 3600) -> RegisterChecker:
    client = HttpRegisterClient(site.urls(base), timeout=0.5, rate_per_second=1000,
                                policy=RetryPolicy(retries=1, backoff_seconds=0.01))
    return RegisterChecker(client, lambda: engine, ttl_seconds=ttl, clock=clock)


def test_fresh_answer_is_reused_and_expired_one_refreshed(engine: sa.Engine, number: str) -> None:
    site = RegisterSite(entries={("GMC", number): {"name": "Dr Noah Walker", "number": number,
                                                   "status": "Registered with a licence to practise"}})
    clock = Clock()
    with register_site(site) as base:
        checker = _checker(site, base, engine, clock)
        first = checker.check("GMC", number)
        assert first.outcome is RegisterOutcome.FOUND and first.source == "register-http"
        clock.now += dt.timedelta(minutes=59)
        second = checker.check("GMC", f" {number[:3]} {number[3:]} ")  # typed with spaces
        assert second.source == "register-http+cache" and second.name == first.name
        assert site.count("GMC", number) == 1
        # The register changes; once the entry expires the new status is read.
        site.entries[("GMC", number)]["status"] = "Suspended"
        clock.now += dt.timedelta(minutes=2)
        third = checker.check("GMC", number)
        assert third.source == "register-http" and third.status == "Suspended"
        assert site.count("GMC", number) == 2
    with session_scope(engine) as s:
        row = rrepo.get_cached(s, reg_type="GMC", reg_number=number)
    assert row is not None and row.result_json is not None
    assert row.result_json["matched_status"] == "Suspended"
    assert row.expires_at == clock.now + dt.timedelta(hours=1)


def test_not_found_is_cached_too(engine: sa.Engine, number: str) -> None:
    site = RegisterSite()
    with register_site(site) as base:
        checker = _checker(site, base, engine, Clock())
        assert checker.check("GMC", number).outcome is RegisterOutcome.NOT_FOUND
        assert checker.check("GMC", number).outcome is RegisterOutcome.NOT_FOUND
    assert site.count("GMC", number) == 1


def test_unavailable_is_not_cached(engine: sa.Engine, number: str) -> None:
    site = RegisterSite(entries={("GMC", number): {"name": "A B", "number": number, "status": "Registered"}})
    site.failures[("GMC", number)] = [("500",), ("500",)]
    with register_site(site) as base:
        checker = _checker(site, base, engine, Clock())
        assert checker.check("GMC", number).outcome is RegisterOutcome.UNAVAILABLE
        # re-checked on the next application, and this time the register answers
        assert checker.check("GMC", number).outcome is RegisterOutcome.FOUND
    assert site.count("GMC", number) == 3


def test_malformed_number_calls_no_register(engine: sa.Engine) -> None:
    site = RegisterSite()
    with register_site(site) as base:
        r = _checker(site, base, engine, Clock()).check("NMC", "12345")
    assert r.outcome is RegisterOutcome.NUMBER_INVALID and "2 digits, letter" in r.detail
    assert site.requests == []


def test_purge_expired(engine: sa.Engine, number: str) -> None:
    site = RegisterSite()
    clock = Clock()
    with register_site(site) as base:
        _checker(site, base, engine, clock, ttl=60).check("GMC", number)
    with session_scope(engine) as s:
        assert rrepo.purge_expired(s, now=clock.now) == 0
        assert rrepo.purge_expired(s, now=clock.now + dt.timedelta(seconds=61)) == 1


class _RecordingAsyncClient:
    """An AsyncRegisterClient that records how it was asked to start runs."""

    name = "register-apify"
    version = "test"

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def start_resumable(self, register: str, number: str, **kw: object) -> str:
        self.calls.append({"register": register, "number": number, **kw})
        return f"run-{len(self.calls)}"

    def collect(self, register: str, number: str, run_id: str) -> object:
        raise AssertionError("not collected here")


@pytest.mark.parametrize("auth", [None, "kyc-ops:s3cret-enough-1"])
def test_a_resumable_register_run_carries_the_prefect_credential_of_the_settings(
    engine: sa.Engine, number: str, auth: str | None
) -> None:
    from types import SimpleNamespace

    from kyc.services.registers import start_register_run
    from kyc.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        apify_webhook_prefect_api_url="https://prefect.example/api",
        prefect_auth_string=auth,
    )
    client = _RecordingAsyncClient()
    site = RegisterSite(entries={})
    with register_site(site) as base:
        rt = SimpleNamespace(
            settings=settings,
            engines=SimpleNamespace(async_register_client=client),
            registers=_checker(site, base, engine, Clock()),
            db=engine,
        )
        assert start_register_run(rt, "GMC", number, "flow-run-1") == "run-1"  # type: ignore[arg-type]
    assert client.calls == [{
        "register": "GMC", "number": number, "prefect_api_url": "https://prefect.example/api",
        "flow_run_id": "flow-run-1", "prefect_auth_string": auth,
    }]  # fmt: skip
