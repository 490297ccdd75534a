"""Direct HTTP register client: every failure mode against real loopback servers."""

from __future__ import annotations

import time

import pytest

from kyc.clients.http import RateLimiter, RetryPolicy, retry_after_seconds
from kyc.domain.records import RegisterOutcome
from kyc.engines.register_http import HttpRegisterClient, PageNotUnderstood, parse_result_page
from tests.fixtures.registers import RegisterSite, register_site, result_page

DOCTOR = {"name": "Dr Noah Walker", "number": "7123456", "status": "Registered with a licence to practise"}


def _client(site: RegisterSite, base: str, **kw) -> HttpRegisterClient:
    opts = {"timeout": 0.5, "policy": RetryPolicy(retries=2, backoff_seconds=0.01, max_retry_after_seconds=5),
            "rate_per_second": 1000.0}
    opts.update(kw)
    return HttpRegisterClient(site.urls(base), **opts)


def _site() -> RegisterSite:
    return RegisterSite(entries={("GMC", "7123456"): dict(DOCTOR)})


def test_429_with_retry_after_is_honoured_then_succeeds() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("429", 1)]
    with register_site(site) as base:
        started = time.monotonic()
        r = _client(site, base).lookup("GMC", "7123456")
        waited = time.monotonic() - started
    assert r.outcome is RegisterOutcome.FOUND
    assert site.count("GMC", "7123456") == 2
    assert waited >= 0.95  # the server asked for 1 s; backoff alone would be ~0.01 s


def test_retry_after_longer_than_allowed_is_unavailable_at_once() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("429", 3600)]
    with register_site(site) as base:
        r = _client(site, base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "Retry-After" in r.detail
    assert site.count("GMC", "7123456") == 1


def test_500_is_retried() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("500",), ("500",)]
    with register_site(site) as base:
        r = _client(site, base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.FOUND and site.count("GMC", "7123456") == 3


def test_500_after_every_retry_is_unavailable() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("500",)] * 3
    with register_site(site) as base:
        r = _client(site, base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "HTTP 500 after 3 attempts" in r.detail


def test_timeout_is_retried_then_unavailable() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("slow", 1.5)] * 2
    with register_site(site) as base:
        r = _client(site, base, policy=RetryPolicy(retries=1, backoff_seconds=0.01)).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "timeout" in r.detail


def test_malformed_page_is_unavailable_not_not_found() -> None:
    site = _site()
    site.failures[("GMC", "7123456")] = [("malformed",)]
    with register_site(site) as base:
        r = _client(site, base).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "page not understood" in r.detail


def test_not_found_page() -> None:
    site = _site()
    with register_site(site) as base:
        r = _client(site, base).lookup("GMC", "7000000")
    assert r.outcome is RegisterOutcome.NOT_FOUND


def test_connection_refused_is_unavailable() -> None:
    site = _site()
    with register_site(site) as base:
        pass  # server stopped: the port refuses connections now
    r = _client(site, base, policy=RetryPolicy(retries=1, backoff_seconds=0.01)).lookup("GMC", "7123456")
    assert r.outcome is RegisterOutcome.UNAVAILABLE and "connection failed" in r.detail


def test_rate_limit_spaces_requests_per_register() -> None:
    site = _site()
    with register_site(site) as base:
        client = _client(site, base, rate_per_second=10.0)
        started = time.monotonic()
        for _ in range(5):
            client.lookup("GDC", "12345")  # a register of its own limiter
        elapsed = time.monotonic() - started
    # 10/s: the 5th request leaves 0.4 s after the first (arrival times jitter, so
    # the whole span is measured, not each gap).
    assert elapsed >= 0.4
    assert len([r for r in site.requests if r[1] == "GDC"]) == 5


def test_rate_limiter_is_shared_between_threads() -> None:
    import threading

    limiter = RateLimiter(50.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert stamps[-1] - stamps[0] >= 8 * 0.02 * 0.9


def test_retry_after_http_date() -> None:
    import datetime as dt

    now = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("Mon, 23 Nov 2026 12:00:30 GMT", now=now) == 30
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("soon") is None


@pytest.mark.parametrize("register", ["GMC", "GDC", "NMC", "GPHC"])
def test_each_registers_page_parses(register: str) -> None:
    number = {"GMC": "7123456", "GDC": "12345", "NMC": "98Y1234D", "GPHC": "2999001"}[register]
    page = result_page(register, [{"name": "A B", "number": number, "status": "Registered",
                                   "conditions": ["Warning (2024)"]}])
    outcome, entry = parse_result_page(register, number, page)
    assert outcome is RegisterOutcome.FOUND
    assert entry == {"name": "A B", "status": "Registered", "conditions": ["Warning (2024)"]}


def test_search_listing_other_registrants_is_not_found() -> None:
    page = result_page("GMC", [{"name": "X Y", "number": "7000001", "status": "Registered"}])
    assert parse_result_page("GMC", "7123456", page)[0] is RegisterOutcome.NOT_FOUND


def test_entry_without_status_is_not_understood() -> None:
    page = result_page("GMC", [{"name": "X Y", "number": "7123456", "status": ""}])
    with pytest.raises(PageNotUnderstood):
        parse_result_page("GMC", "7123456", page)


def test_url_templates_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match="must contain"):
        HttpRegisterClient({"GMC": "https://example.invalid/search"})
    with pytest.raises(ValueError, match="unknown register"):
        HttpRegisterClient({"HCPC": "https://example.invalid/{number}"})
