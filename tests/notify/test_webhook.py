"""Standard Webhooks signing: a published test vector, an independent verifier,
secret rotation, the replay window, and the receiver-side verify()."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from kyc.notify.base import Notification
from kyc.notify.webhook import (
    WebhookConfigError,
    WebhookVerificationError,
    body_for,
    decode_secret,
    generate_secret,
    parse_retry_after,
    redact_url,
    sign,
    signed_headers,
    verify,
)

# The example from the Standard Webhooks specification / reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def independent_verify(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """A verifier written from the spec alone (shares no code with kyc.notify)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = headers["webhook-id"] + "." + headers["webhook-timestamp"] + "." + body.decode()
    expected = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())
    return any(
        part.startswith("v1,") and hmac.compare_digest(part[3:].encode(), expected)
        for part in headers["webhook-signature"].split(" ")
    )


def test_spec_vector() -> None:
    assert sign(SPEC_ID, SPEC_TS, SPEC_BODY, [SPEC_SECRET]) == SPEC_SIGNATURE
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TS),
        "webhook-signature": SPEC_SIGNATURE,
    }
    assert verify(SPEC_BODY, headers, [SPEC_SECRET], now=SPEC_TS) == {"test": 2432232314}


def test_signed_headers_pass_an_independent_verifier() -> None:
    secret = generate_secret()
    body = b'{"type":"kyc.decision","data":{"application_id":"a-1"}}'
    headers = signed_headers("msg_1", body, [secret])
    assert headers["webhook-id"] == "msg_1"
    assert abs(int(headers["webhook-timestamp"]) - dt.datetime.now(dt.UTC).timestamp()) < 5
    assert independent_verify(body, headers, secret)
    assert not independent_verify(body + b" ", headers, secret)
    assert not independent_verify(body, headers, generate_secret())


def test_rotation_signs_with_both_secrets() -> None:
    new, old = generate_secret(), generate_secret()
    body = b'{"x":1}'
    headers = signed_headers("msg_2", body, [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A receiver still on the old secret and one already on the new both accept.
    assert independent_verify(body, headers, old)
    assert independent_verify(body, headers, new)
    now = int(headers["webhook-timestamp"])
    assert verify(body, headers, [old], now=now) == {"x": 1}
    assert verify(body, headers, [new], now=now) == {"x": 1}
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(body, headers, [generate_secret()], now=now)


def test_replay_window() -> None:
    secret = generate_secret()
    body = b'{"x":1}'
    headers = signed_headers("msg_3", body, [secret], timestamp=1_000_000)
    assert verify(body, headers, [secret], now=1_000_000 + 299) == {"x": 1}
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(body, headers, [secret], now=1_000_000 + 301)
    with pytest.raises(WebhookVerificationError, match="too new"):
        verify(body, headers, [secret], now=1_000_000 - 301)
    # Moving the timestamp forward to get past the window breaks the signature.
    replayed = dict(headers, **{"webhook-timestamp": str(1_000_000 + 600)})
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(body, replayed, [secret], now=1_000_000 + 600)


def test_verify_rejects_tampering_and_missing_headers() -> None:
    secret = generate_secret()
    body = b'{"decision":"FAIL"}'
    headers = signed_headers("msg_4", body, [secret])
    now = int(headers["webhook-timestamp"])
    with pytest.raises(WebhookVerificationError):
        verify(b'{"decision":"PASS"}', headers, [secret], now=now)
    with pytest.raises(WebhookVerificationError):
        verify(body, dict(headers, **{"webhook-id": "msg_other"}), [secret], now=now)
    with pytest.raises(WebhookVerificationError, match="missing header"):
        verify(body, {k: v for k, v in headers.items() if k != "webhook-signature"}, [secret])
    with pytest.raises(WebhookVerificationError, match="not an integer"):
        verify(body, dict(headers, **{"webhook-timestamp": "soon"}), [secret])
    # A correctly signed body that is not a JSON object is still refused, clearly.
    for bad in (b"not json", b"[1, 2]"):
        signed = signed_headers("msg_5", bad, [secret], timestamp=now)
        with pytest.raises(WebhookVerificationError, match="JSON"):
            verify(bad, signed, [secret], now=now)
    # Header names are case-insensitive; unknown signature versions are skipped.
    upper = {k.upper(): v for k, v in headers.items()}
    upper["WEBHOOK-SIGNATURE"] = "v2,abc " + upper["WEBHOOK-SIGNATURE"]
    assert verify(body, upper, [secret], now=now) == {"decision": "FAIL"}


@pytest.mark.parametrize(
    "secret", ["", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="]
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(WebhookConfigError):
        decode_secret(secret)


def test_body_is_the_standard_envelope_without_pii() -> None:
    n = Notification(
        message_id="msg_5",
        event="kyc.decision",
        data={"application_id": "a-1", "decision": "PASS", "reasons": [], "version": 1},
        subject="s",
        text="t",
    )
    payload = json.loads(body_for(n, sent_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)))
    assert payload == {
        "type": "kyc.decision",
        "timestamp": "2026-01-02T00:00:00+00:00",
        "data": {"application_id": "a-1", "decision": "PASS", "reasons": [], "version": 1},
    }


def test_redact_url_and_retry_after() -> None:
    assert (
        redact_url("https://user:pw@hooks.example.com:8443/kyc?token=abc#x")
        == "https://hooks.example.com:8443/kyc"
    )
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:12 GMT", now=now) == pytest.approx(12)
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0
