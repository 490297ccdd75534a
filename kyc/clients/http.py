"""Polite, resilient HTTP for third-party registers: rate limit, retries, Retry-After.

Shared by the register clients (direct HTTP and Apify) and the licence service
client. One :class:`RateLimiter` per remote service keeps us under its limits even
when several applications are processed at once (threads of one process).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)


class ServiceUnavailable(RuntimeError):
    """A remote service did not answer usably after every retry (the detail says why)."""


class RateLimiter:
    """At most ``rate`` calls per second, shared by every thread that uses it."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        """Create a limiter for ``rate`` calls per second."""
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock

    def acquire(self) -> float:
        """Wait for the next slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self._interval
        wait = start - now
        if wait > 0:
            time.sleep(wait)
        return wait


_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, rate: float) -> RateLimiter:
    """The process-wide limiter of one remote service (e.g. ``register-http:GMC``).

    Keyed by the rate too, so that a changed setting takes effect (new engines are
    built when settings change) instead of the first limiter's rate sticking.
    """
    with _limiters_lock:
        if (key, rate) not in _limiters:
            _limiters[(key, rate)] = RateLimiter(rate)
        return _limiters[(key, rate)]


def retry_after_seconds(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Parse a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one remote call."""

    retries: int = 3
    backoff_seconds: float = 1.0
    max_retry_after_seconds: float = 60.0


#: Status codes worth another attempt; anything else 4xx is an answer.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    limiter: RateLimiter | None = None,
    ok_statuses: frozenset[int] = frozenset({200}),
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: object,
) -> httpx.Response:
    """One HTTP call with rate limiting and retries.

    Retries timeouts, connection errors and :data:`RETRYABLE` statuses with
    exponential backoff (with jitter); a 429 or 503 with Retry-After waits what the
    server asks, unless that is longer than ``policy.max_retry_after_seconds``
    (then the service counts as unavailable now, to be re-checked later).

    Returns:
        The response, whose status is in ``ok_statuses``.

    Raises:
        ServiceUnavailable: every attempt failed; the detail names the last failure.
    """
    last = "no attempt"
    for attempt in range(policy.retries + 1):
        if limiter is not None:
            limiter.acquire()
        delay = policy.backoff_seconds * (2**attempt) * (0.5 + random.random() / 2)
        try:
            resp = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            last = "timeout"
        except httpx.TransportError as exc:
            last = f"connection failed ({type(exc).__name__})"
        else:
            if resp.status_code in ok_statuses:
                return resp
            last = f"HTTP {resp.status_code}"
            if resp.status_code not in RETRYABLE:
                raise ServiceUnavailable(last)
            asked = retry_after_seconds(resp.headers.get("Retry-After"))
            if asked is not None:
                if asked > policy.max_retry_after_seconds:
                    raise ServiceUnavailable(f"{last}, Retry-After {asked:.0f}s too long")
                delay = max(delay, asked)
        if attempt < policy.retries:
            log.info(
                "remote call failed (%s); attempt %d, retrying in %.2fs", last, attempt + 1, delay
            )
            sleep(delay)
    raise ServiceUnavailable(f"{last} after {policy.retries + 1} attempts")
