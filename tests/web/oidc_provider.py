"""A small, real OpenID Connect provider on loopback, for the console's SSO tests.

It serves discovery, a JWKS, an authorization endpoint (the user is already
"logged in": it redirects straight back with a code) and a token endpoint that
checks the client secret, the redirect URI and the PKCE S256 verifier before it
issues an RS256 ID token signed with ``cryptography``. Tests steer what it signs
(``claims``, ``override``, ``sign_with``) to check the console's verification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_ID = "kyc-console"
CLIENT_SECRET = "provider-test-secret-0123456789"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def sign(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str, alg: str = "RS256") -> str:
    """A compact JWS of ``claims`` (RS256 with ``key``)."""
    head = _b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(signature)}"


@dataclass
class Provider:
    """The provider's state: its key, the user it logs in, issued codes."""

    url: str = ""
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "test-key-1"
    #: claims of the user the next login is for (sub, name, kyc_role, ...)
    claims: dict[str, Any] = field(default_factory=dict)
    #: claims replaced in the next ID tokens (aud, exp, nonce, iss ...)
    override: dict[str, Any] = field(default_factory=dict)
    #: sign with this key instead of the published one
    sign_with: rsa.RSAPrivateKey | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: what the token endpoint was sent (the tests check PKCE and the client secret)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def jwks(self) -> dict[str, Any]:
        """The published key set."""
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _int(numbers.n),
                    "e": _int(numbers.e),
                }
            ]
        }

    def discovery(self) -> dict[str, Any]:
        """The discovery document."""
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                return self._json(200, provider.discovery())
            if parts.path == "/jwks":
                return self._json(200, provider.jwks())
            if parts.path == "/authorize":
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                ok = (
                    q.get("client_id") == CLIENT_ID
                    and q.get("response_type") == "code"
                    and q.get("code_challenge_method") == "S256"
                    and q.get("code_challenge")
                    and "openid" in q.get("scope", "").split()
                )
                if not ok:
                    return self._json(400, {"error": "invalid_request"})
                code = secrets.token_urlsafe(16)
                provider.codes[code] = {
                    "challenge": q["code_challenge"],
                    "nonce": q.get("nonce"),
                    "redirect_uri": q["redirect_uri"],
                }
                self.send_response(302)
                target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
                self.send_header("Location", target)
                self.end_headers()
                return None
            return self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                return self._json(404, {"error": "not_found"})
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            provider.token_requests.append(form)
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._json(401, {"error": "invalid_client"})
            issued = provider.codes.pop(form.get("code", ""), None)
            if issued is None or form.get("redirect_uri") != issued["redirect_uri"]:
                return self._json(400, {"error": "invalid_grant"})
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode()).digest()) != issued["challenge"]:
                return self._json(400, {"error": "invalid_grant", "detail": "PKCE"})
            now = int(time.time())
            claims = (
                {
                    "iss": provider.url,
                    "aud": CLIENT_ID,
                    "iat": now,
                    "exp": now + 300,
                    "nonce": issued["nonce"],
                }
                | provider.claims
                | provider.override
            )
            token = sign(claims, provider.sign_with or provider.key, provider.kid)
            return self._json(200, {"access_token": "a", "token_type": "Bearer", "id_token": token})

    return Handler


def serve() -> Iterator[Provider]:
    """Run a provider on a free loopback port until the generator is closed."""
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
