"""The notification port, its records, and the retry loop shared by every channel.

A :class:`Channel` makes one delivery attempt and either returns (delivered) or
raises :class:`DeliveryFailed` saying whether a retry could help and how long the
receiver asked us to wait. :func:`deliver` owns the retries, the backoff and the
per-attempt records, so that every channel behaves the same way and every attempt
reaches the delivery log.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

_log = logging.getLogger(__name__)

AttemptStatus = Literal["DELIVERED", "RETRYING", "FAILED"]

#: uuid5 namespace for message ids: the same event always gets the same id, so a
#: receiver can de-duplicate a redelivery (Standard Webhooks ``webhook-id``).
MESSAGE_NAMESPACE = uuid.UUID("6b79632d-6e6f-7469-6679-2d6d73672d31")


def message_id(*parts: object) -> str:
    """A stable message id (``msg_<hex>``) for the event named by ``parts``."""
    return "msg_" + uuid.uuid5(MESSAGE_NAMESPACE, "/".join(str(p) for p in parts)).hex


@dataclass(frozen=True, slots=True)
class Notification:
    """One event to tell someone about, the same for every channel.

    ``data`` is the JSON payload (webhook, SNS): ids, codes and dates only, never raw
    PII. ``subject``/``text`` are the human-readable form (email, SNS subject).
    ``recipients`` names email addresses for this message (expiry reminders); empty
    means the channel's configured audience (the customer-service team).
    """

    message_id: str
    event: str
    data: Mapping[str, Any]
    subject: str
    text: str
    application_id: str | None = None
    recipients: tuple[str, ...] = ()


class DeliveryFailed(Exception):
    """One delivery attempt failed.

    Attributes:
        status_code: HTTP or SMTP reply code, when the receiver answered.
        retryable: whether another attempt could succeed (timeouts, 5xx, 429).
        retry_after: seconds the receiver asked us to wait (HTTP ``Retry-After``).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class Channel(Protocol):
    """Port: a way of telling someone (webhook receiver, SNS topic, mailbox)."""

    #: ``webhook`` | ``sns`` | ``email``
    name: str
    #: Where it goes, safe to log and store (no credentials, no query strings).
    target: str

    def send(self, notification: Notification) -> int | None:
        """Make one delivery attempt.

        Returns:
            The receiver's status code (HTTP, SMTP) when it has one.

        Raises:
            DeliveryFailed: the attempt failed.
        """
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently :func:`deliver` tries."""

    max_attempts: int = 4
    backoff_seconds: float = 1.0
    max_delay_seconds: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Exponential backoff with full jitter on the upper half (so receivers coming
        back from an outage are not hit by every sender at once); a receiver's
        ``Retry-After`` wins when it asks for longer. Both are capped by
        ``max_delay_seconds`` so that one dead receiver cannot stall the pipeline.
        """
        base = self.backoff_seconds * (2 ** (attempt - 1))
        wait = base / 2 + random.uniform(0, base / 2)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return max(0.0, min(wait, self.max_delay_seconds))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt, as written to the delivery log."""

    channel: str
    target: str
    message_id: str
    event: str
    application_id: str | None
    attempt: int
    status: AttemptStatus
    status_code: int | None
    latency_ms: float
    error: str | None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """Outcome of :func:`deliver` over all its attempts."""

    channel: str
    delivered: bool
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)

    @property
    def last_error(self) -> str | None:
        """The error of the final attempt, if it failed."""
        return self.attempts[-1].error if self.attempts else None


class CircuitBreaker:
    """Stops waiting on a receiver that keeps failing, for a cool-down period.

    Deliveries run inside each application's task: without this, a receiver that
    times out would hold every application for the whole retry budget. After
    ``threshold`` notifications in a row failed for good on one target, further
    ones fail at once (one FAILED row each, resendable with
    ``kyc notifications --resend-failed``) until ``cooldown_seconds`` have passed;
    then one delivery is tried again, and a success closes the circuit.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args: threshold, failures in a row that open it; cooldown_seconds; clock."""
        self.threshold = threshold
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._opened_at: dict[str, float] = {}

    def allow(self, target: str) -> bool:
        """True when a delivery to ``target`` may be tried now."""
        with self._lock:
            opened = self._opened_at.get(target)
            if opened is None:
                return True
            if self._clock() - opened >= self.cooldown_seconds:
                # Half-open: let this one through; its outcome decides.
                del self._opened_at[target]
                self._failures[target] = self.threshold - 1
                return True
            return False

    def record(self, target: str, delivered: bool) -> None:
        """Count the final outcome of one notification on ``target``."""
        with self._lock:
            if delivered:
                self._failures.pop(target, None)
                self._opened_at.pop(target, None)
                return
            self._failures[target] = self._failures.get(target, 0) + 1
            if self._failures[target] >= self.threshold:
                self._opened_at[target] = self._clock()


def deliver(
    channel: Channel,
    notification: Notification,
    *,
    policy: RetryPolicy,
    record: Callable[[Attempt], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    breaker: CircuitBreaker | None = None,
) -> DeliveryResult:
    """Send ``notification`` through ``channel``, retrying transient failures.

    Never raises for a failed delivery: the result (and ``record``, called once per
    attempt) says what happened. An exception from ``record`` itself is logged and
    does not stop the delivery: the log is a record, not a gate.

    Args:
        channel: where to send.
        notification: what to send.
        policy: attempts and backoff.
        record: called with every attempt (the delivery log).
        sleep: the wait between attempts (tests pass a recorder).
        breaker: skip (one FAILED attempt, no wait) while this target's circuit is open.
    """
    if breaker is not None and not breaker.allow(channel.target):
        skipped = Attempt(
            channel=channel.name,
            target=channel.target,
            message_id=notification.message_id,
            event=notification.event,
            application_id=notification.application_id,
            attempt=1,
            status="FAILED",
            status_code=None,
            latency_ms=0.0,
            error="not attempted: receiver failing, circuit open",
        )
        _safe_record(record, skipped)
        return DeliveryResult(channel.name, False, (skipped,))
    result = _deliver(channel, notification, policy=policy, record=record, sleep=sleep)
    if breaker is not None:
        breaker.record(channel.target, result.delivered)
    return result


def _safe_record(record: Callable[[Attempt], None] | None, attempt: Attempt) -> None:
    if record is None:
        return
    try:
        record(attempt)
    except Exception:
        _log.exception("could not record %s attempt %d", attempt.channel, attempt.attempt)


def _deliver(
    channel: Channel,
    notification: Notification,
    *,
    policy: RetryPolicy,
    record: Callable[[Attempt], None] | None,
    sleep: Callable[[float], None],
) -> DeliveryResult:
    attempts: list[Attempt] = []
    for number in range(1, policy.max_attempts + 1):
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        retryable = False
        retry_after: float | None = None
        try:
            status_code = channel.send(notification)
        except DeliveryFailed as exc:
            status_code, error = exc.status_code, str(exc)
            retryable, retry_after = exc.retryable, exc.retry_after
        except Exception as exc:  # a channel bug must not lose the decision either
            error = f"{type(exc).__name__}: {exc}"
            retryable = True
        latency_ms = (time.perf_counter() - started) * 1000
        last = number >= policy.max_attempts or not retryable
        status: AttemptStatus = "DELIVERED" if error is None else ("FAILED" if last else "RETRYING")
        attempt = Attempt(
            channel=channel.name,
            target=channel.target,
            message_id=notification.message_id,
            event=notification.event,
            application_id=notification.application_id,
            attempt=number,
            status=status,
            status_code=status_code,
            latency_ms=round(latency_ms, 3),
            error=None if error is None else error[:1000],
        )
        attempts.append(attempt)
        _safe_record(record, attempt)
        if error is None:
            return DeliveryResult(channel.name, True, tuple(attempts))
        _log.warning(
            "%s delivery of %s (%s) attempt %d/%d failed: %s",
            channel.name,
            notification.message_id,
            notification.event,
            number,
            policy.max_attempts,
            error,
        )
        if last:
            break
        sleep(policy.delay(number, retry_after))
    return DeliveryResult(channel.name, False, tuple(attempts))


__all__ = [
    "Attempt",
    "Channel",
    "CircuitBreaker",
    "DeliveryFailed",
    "DeliveryResult",
    "Notification",
    "RetryPolicy",
    "deliver",
    "message_id",
]
