"""Signed webhooks, following the Standard Webhooks convention (standardwebhooks.com).

Every request carries three headers:

* ``webhook-id``: the message id, the same on every retry (receivers de-duplicate);
* ``webhook-timestamp``: Unix seconds of this attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``,
  one per active secret separated by spaces (current and previous during a
  rotation), where the key is the base64-decoded part of ``whsec_<base64>``.

:func:`verify` is the receiver's side (exact body bytes, constant-time comparison,
replay window) for anyone who consumes these webhooks from Python.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kyc.clients.http import retry_after_seconds
from kyc.notify.base import DeliveryFailed, Notification

if TYPE_CHECKING:
    import httpx

SECRET_PREFIX = "whsec_"
#: Receivers reject messages whose timestamp is further than this from their clock.
DEFAULT_TOLERANCE_SECONDS = 5 * 60
#: HTTP statuses worth another attempt; any other 4xx means the request itself is
#: wrong (or refused) and repeating it would not help.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class WebhookConfigError(ValueError):
    """A webhook secret or URL is malformed."""


class WebhookVerificationError(ValueError):
    """A received webhook failed verification (signature, timestamp or headers)."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret.

    Raises:
        WebhookConfigError: not ``whsec_`` followed by base64 of at least 16 bytes.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise WebhookConfigError("webhook secret must look like whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookConfigError("webhook secret: the part after whsec_ is not base64") from exc
    if len(key) < 16:
        raise WebhookConfigError("webhook secret is too short (want >= 16 random bytes)")
    return key


def generate_secret(nbytes: int = 32) -> str:
    """A new random ``whsec_`` secret (for operators rotating keys)."""
    import secrets

    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<sig>`` per secret.

    Args:
        msg_id: the ``webhook-id``.
        timestamp: the ``webhook-timestamp`` (Unix seconds).
        body: the exact request body.
        secrets: ``whsec_`` secrets, current first.
    """
    if not secrets:
        raise WebhookConfigError("no webhook secret to sign with")
    content = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets:
        digest = hmac.new(decode_secret(secret), content, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


def signed_headers(
    msg_id: str, body: bytes, secrets: Sequence[str], *, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one attempt (a fresh timestamp unless one is given)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(msg_id, ts, body, secrets),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a received webhook and return its JSON payload (receiver side).

    Accepts the message when any ``v1`` signature in the header matches any of
    ``secrets`` (so a receiver can hold old and new secrets during a rotation) and
    the timestamp is within ``tolerance_seconds`` of ``now`` (replay window).

    Args:
        body: the raw request body, exactly as received (not re-serialised JSON).
        headers: the request headers (any letter case).
        secrets: the receiver's ``whsec_`` secrets.
        tolerance_seconds: the replay window either side of ``now``.
        now: Unix time to check against (default: the clock).

    Raises:
        WebhookVerificationError: missing headers, a stale or future timestamp, or
            no matching signature.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id = lower["webhook-id"]
        timestamp_raw = lower["webhook-timestamp"]
        signature_header = lower["webhook-signature"]
    except KeyError as exc:
        raise WebhookVerificationError(f"missing header {exc.args[0]}") from None
    try:
        timestamp = int(timestamp_raw)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance_seconds:
        raise WebhookVerificationError("message timestamp too old (outside the replay window)")
    if timestamp > current + tolerance_seconds:
        raise WebhookVerificationError("message timestamp too new (outside the replay window)")
    content = f"{msg_id}.{timestamp}.".encode() + body
    expected = [hmac.new(decode_secret(s), content, hashlib.sha256).digest() for s in secrets]
    for candidate in signature_header.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            received = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if any(hmac.compare_digest(received, want) for want in expected):
            try:
                payload = json.loads(body)
            except ValueError:
                raise WebhookVerificationError("payload is not JSON") from None
            if not isinstance(payload, dict):
                raise WebhookVerificationError("payload is not a JSON object")
            return payload
    raise WebhookVerificationError("no matching signature")


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no credentials, query or fragment.

    Receivers often put a token in the query string; the delivery log must not
    keep it.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` (delta-seconds or an HTTP date).

    The parsing is :func:`kyc.clients.http.retry_after_seconds` (shared
    with the register clients); this keeps the webhook's epoch-seconds ``now``.
    """
    current = None if now is None else dt.datetime.fromtimestamp(now, dt.UTC)
    return retry_after_seconds(value, now=current)


def body_for(notification: Notification, *, sent_at: dt.datetime | None = None) -> bytes:
    """The JSON body: the Standard Webhooks envelope ``{type, timestamp, data}``."""
    when = sent_at or dt.datetime.now(dt.UTC)
    envelope = {
        "type": notification.event,
        "timestamp": when.isoformat(),
        "data": dict(notification.data),
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


class WebhookChannel:
    """POSTs signed JSON to one receiver (the :class:`~kyc.notify.base.Channel` port)."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        timeout_seconds: float = 10.0,
    ) -> None:
        """Check the URL and secrets now, so a misconfiguration fails at start-up.

        Args:
            url: the receiver (``http(s)://``).
            secrets: ``whsec_`` secrets, current first (then the previous one).
            timeout_seconds: connect + read timeout per attempt.

        Raises:
            WebhookConfigError: a malformed URL or secret, or no secret.
        """
        if urlsplit(url).scheme not in {"http", "https"} or not urlsplit(url).hostname:
            raise WebhookConfigError("KYC_WEBHOOK_URL must be an http(s):// URL")
        if not secrets:
            raise WebhookConfigError("KYC_WEBHOOK_URL is set but KYC_WEBHOOK_SECRET is not")
        for s in secrets:
            decode_secret(s)
        self.url = url
        self.secrets = tuple(secrets)
        self.timeout_seconds = timeout_seconds
        self.target = redact_url(url)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        """One client per channel, made on first use and shared by threads.

        Building a client costs ~0.1 s (it loads the CA bundle), more than the
        delivery itself; httpx clients are thread-safe. No keep-alive: decisions
        are seconds apart, and a pooled connection the receiver has closed
        meanwhile would turn into a spurious failed attempt.
        """
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.timeout_seconds,
                    follow_redirects=False,
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
            return self._client

    def send(self, notification: Notification) -> int | None:
        """POST one attempt; a fresh timestamp and signature every time."""
        import httpx

        body = body_for(notification)
        headers = signed_headers(notification.message_id, body, self.secrets)
        try:
            response = self._http().post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= response.status_code < 300:
            return response.status_code
        raise DeliveryFailed(
            f"HTTP {response.status_code}",
            status_code=response.status_code,
            retryable=response.status_code in RETRYABLE_STATUSES,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "SECRET_PREFIX",
    "WebhookChannel",
    "WebhookConfigError",
    "WebhookVerificationError",
    "body_for",
    "decode_secret",
    "generate_secret",
    "parse_retry_after",
    "redact_url",
    "sign",
    "signed_headers",
    "verify",
]
