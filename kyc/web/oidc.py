"""OpenID Connect single sign-on for the console (optional: ``KYC_OIDC_ISSUER``).

The authorization-code flow with PKCE (S256), ``state`` and ``nonce``:

1. ``/login/sso`` reads the issuer's discovery document, keeps a random state,
   nonce and PKCE verifier in a short-lived HttpOnly cookie and sends the browser
   to the authorization endpoint.
2. ``/login/sso/callback`` checks the state, swaps the code for tokens at the token
   endpoint (with the verifier and the client secret), verifies the ID token
   (RS256 signature against the issuer's JWKS, ``iss``, ``aud``/``azp``, ``exp``,
   ``iat``, ``nonce``) and opens a console session for the account mapped to the
   token's ``sub`` (made on first login; role from ``KYC_OIDC_ROLE_CLAIM``,
   ``viewer`` without one).

Only RS256 ID tokens are accepted (the algorithm every provider supports and the
one OIDC makes mandatory); the signature is checked with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from kyc.domain.review import Role
from kyc.services import accounts
from kyc.settings import Settings
from kyc.web import auth
from kyc.web.auth import runtime

router = APIRouter(include_in_schema=False)

#: The cookie holding the flow's state, nonce, PKCE verifier and ``next`` (10 minutes).
FLOW_COOKIE = "kyc_oidc"
FLOW_SECONDS = 600
#: Clock skew allowed on ``exp`` and ``iat`` (seconds).
LEEWAY = 60
#: How long a discovery document and key set are reused (an unknown ``kid`` refetches).
CACHE_SECONDS = 3600.0
TIMEOUT = httpx.Timeout(10.0)


class SsoError(Exception):
    """The single sign-on failed (the message is safe to show; it holds no token)."""


@dataclass
class _Cached:
    value: dict[str, Any]
    at: float


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def _get_json(url: str, *, fresh: bool = False) -> dict[str, Any]:
    """GET a JSON document (cached for :data:`CACHE_SECONDS`)."""
    with _cache_lock:
        hit = _cache.get(url)
        if hit is not None and not fresh and time.monotonic() - hit.at < CACHE_SECONDS:
            return hit.value
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
        response.raise_for_status()
        value = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SsoError(f"the identity provider did not answer ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise SsoError("the identity provider sent a malformed document")
    with _cache_lock:
        _cache[url] = _Cached(value, time.monotonic())
    return value


def _check_url(url: str, what: str) -> str:
    """HTTPS, or plain HTTP on loopback only (development, tests)."""
    parts = urlsplit(url)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise SsoError(f"the {what} must be an https URL")
    return url


def discovery(settings: Settings) -> dict[str, Any]:
    """The issuer's discovery document (its ``issuer`` must be the configured one)."""
    issuer = (settings.oidc_issuer or "").rstrip("/")
    if not issuer or not settings.oidc_client_id:
        raise SsoError("single sign-on is not configured")
    doc = _get_json(_check_url(issuer, "issuer") + "/.well-known/openid-configuration")
    if str(doc.get("issuer", "")).rstrip("/") != issuer:
        raise SsoError("the discovery document names another issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(key), str):
            raise SsoError(f"the discovery document has no {key}")
        _check_url(doc[key], key)
    return doc


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rsa_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey:
    n = int.from_bytes(_b64(str(jwk["n"])), "big")
    e = int.from_bytes(_b64(str(jwk["e"])), "big")
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_id_token(
    token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify an ID token's RS256 signature and claims; returns its claims.

    Raises:
        SsoError: malformed, another algorithm, an unknown key, a bad signature, or
            a wrong issuer, audience, nonce or time.
    """
    try:
        head_b64, body_b64, sig_b64 = token.split(".")
        header = json.loads(_b64(head_b64))
        claims = json.loads(_b64(body_b64))
        signature = _b64(sig_b64)
    except (ValueError, TypeError):
        raise SsoError("the ID token is malformed") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise SsoError("the ID token is malformed")
    if header.get("alg") != "RS256":
        raise SsoError("the ID token is not signed with RS256")
    keys = [
        k
        for k in jwks.get("keys", [])
        if isinstance(k, dict)
        and k.get("kty") == "RSA"
        and k.get("use", "sig") == "sig"
        and (header.get("kid") is None or k.get("kid") == header.get("kid"))
    ]
    if not keys:
        raise SsoError("the ID token's signing key is not in the issuer's key set")
    signed = f"{head_b64}.{body_b64}".encode()
    for jwk in keys:
        try:
            _rsa_key(jwk).verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            break
        except (InvalidSignature, KeyError, ValueError):
            continue
    else:
        raise SsoError("the ID token's signature does not verify")
    now = time.time() if now is None else now
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if str(claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        raise SsoError("the ID token is from another issuer")
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise SsoError("the ID token is for another client")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - LEEWAY:
        raise SsoError("the ID token has expired")
    if isinstance(claims.get("iat"), int | float) and claims["iat"] > now + LEEWAY:
        raise SsoError("the ID token was issued in the future")
    if not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise SsoError("the ID token's nonce does not match this login")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SsoError("the ID token has no subject")
    return claims


def _redirect_uri(request: Request, settings: Settings) -> str:
    base = (settings.web_public_url or str(request.base_url)).rstrip("/")
    return base + "/login/sso/callback"


def _failed(request: Request, message: str) -> Response:
    from kyc.web.console import render

    response = render(
        request, "error.html", None, status=403, title="Single sign-on failed", message=message
    )
    auth.clear_cookie(request, response, FLOW_COOKIE)
    return response


@router.get("/login/sso")
def start(request: Request, next: str = "/") -> Response:
    """Send the browser to the identity provider (state, nonce, PKCE in a cookie)."""
    settings = runtime(request).settings
    try:
        doc = discovery(settings)
    except SsoError as exc:
        return _failed(request, str(exc))
    flow = {
        "state": secrets.token_urlsafe(32),
        "nonce": secrets.token_urlsafe(32),
        "verifier": secrets.token_urlsafe(64),
        "next": auth.safe_next(next),
    }
    challenge = _b64e(hashlib.sha256(flow["verifier"].encode()).digest())
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": _redirect_uri(request, settings),
            "scope": "openid profile email",
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{doc['authorization_endpoint']}?{query}", status_code=303)
    auth.set_cookie(request, response, FLOW_COOKIE, _b64e(json.dumps(flow).encode()), FLOW_SECONDS)
    return response


def _flow(request: Request) -> dict[str, str]:
    raw = request.cookies.get(FLOW_COOKIE, "")
    try:
        flow = json.loads(_b64(raw)) if raw else None
    except (ValueError, TypeError):
        flow = None
    if not isinstance(flow, dict) or not all(
        isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier", "next")
    ):
        raise SsoError("this sign-on was not started here, or took too long: try again")
    return {k: str(flow[k]) for k in ("state", "nonce", "verifier", "next")}


def _tokens(settings: Settings, doc: dict[str, Any], code: str, verifier: str, uri: str) -> str:
    """Swap the code for tokens; returns the ID token."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": uri,
        "client_id": settings.oidc_client_id or "",
        "code_verifier": verifier,
    }
    secret = settings.oidc_client_secret
    basic = (settings.oidc_client_id or "", secret.get_secret_value()) if secret else None
    try:
        response = httpx.post(doc["token_endpoint"], data=data, auth=basic, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise SsoError(f"the token endpoint did not answer ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise SsoError(f"the identity provider refused the code (HTTP {response.status_code})")
    try:
        token = response.json().get("id_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str):
        raise SsoError("the identity provider sent no ID token")
    return token


def _role(claims: dict[str, Any], claim: str) -> Role:
    value = claims.get(claim)
    values = value if isinstance(value, list) else [value]
    roles = [Role(v) for v in values if isinstance(v, str) and v in {r.value for r in Role}]
    return max(roles, key=lambda r: r.rank) if roles else Role.VIEWER


@router.get("/login/sso/callback")
def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    """Check the provider's answer, verify the ID token, open a console session."""
    rt = runtime(request)
    settings = rt.settings
    try:
        flow = _flow(request)
        if error:
            raise SsoError(f"the identity provider said: {error[:100]}")
        if not state or not secrets.compare_digest(state.encode(), flow["state"].encode()):
            raise SsoError("the sign-on's state does not match: try again")
        if not code:
            raise SsoError("the identity provider sent no code")
        doc = discovery(settings)
        token = _tokens(settings, doc, code, flow["verifier"], _redirect_uri(request, settings))
        issuer = settings.oidc_issuer or ""
        client = settings.oidc_client_id or ""
        try:
            claims = verify_id_token(
                token,
                jwks=_get_json(doc["jwks_uri"]),
                issuer=issuer,
                client_id=client,
                nonce=flow["nonce"],
            )
        except SsoError as exc:
            if "signing key" not in str(exc):
                raise
            # A rotated key: fetch the key set again, once.
            claims = verify_id_token(
                token,
                jwks=_get_json(doc["jwks_uri"], fresh=True),
                issuer=issuer,
                client_id=client,
                nonce=flow["nonce"],
            )
        account = accounts.sso_account(
            rt,
            subject=str(claims["sub"]),
            username_hint=str(
                claims.get("preferred_username") or claims.get("email") or claims["sub"]
            ),
            display_name=str(claims.get("name") or claims.get("preferred_username") or ""),
            role=_role(claims, settings.oidc_role_claim),
        )
    except (SsoError, accounts.AccountError) as exc:
        return _failed(request, str(exc))
    session, _ = accounts.start_session(rt, account)
    response = RedirectResponse(flow["next"], status_code=303)
    auth.set_cookie(
        request, response, auth.SESSION_COOKIE, session, settings.web_session_ttl_seconds
    )
    auth.clear_cookie(request, response, FLOW_COOKIE)
    return response
