"""OpenID Connect sign-on against a real provider on loopback (tests/web/oidc_provider.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kyc.services import accounts
from tests.web import oidc_provider
from tests.web.console_fixtures import Console, console
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider

__all__ = ["console"]  # fixtures used by name
pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    yield from oidc_provider.serve()


@pytest.fixture(scope="module")
def console_overrides(provider: Provider) -> dict[str, Any]:
    """This module's console signs on at the loopback provider."""
    return {
        "oidc_issuer": provider.url,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_role_claim": "kyc_role",
    }


@pytest.fixture(autouse=True)
def _reset(provider: Provider) -> Iterator[None]:
    provider.override, provider.sign_with = {}, None
    yield


def sign_on(console: Console, provider: Provider, claims: dict[str, Any], next_path: str = "/"):
    """Click "single sign-on": console -> provider -> console callback; returns the answer."""
    provider.claims = claims
    client = console.client()
    start = client.get(f"/login/sso?next={next_path}")
    assert start.status_code == 303, start.text
    assert start.headers["location"].startswith(provider.url + "/authorize?")
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302, back.text
    return client, client.get(back.headers["location"])


def test_login_page_offers_sso(console: Console) -> None:
    page = console.client().get("/login")
    assert 'data-testid="sso"' in page.text


def test_first_sign_on_makes_the_account_and_role_follows_the_claim(
    console: Console, provider: Provider
) -> None:
    claims = {
        "sub": "sub-ada-1",
        "preferred_username": "ada",
        "name": "Ada L",
        "kyc_role": "approver",
    }
    client, done = sign_on(console, provider, claims, "/stats")
    assert done.status_code == 303 and done.headers["location"] == "/stats", done.text
    page = client.get("/stats")
    assert page.status_code == 200 and "Ada L" in page.text and ">approver<" in page.text
    sent = provider.token_requests[-1]
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43
    (account,) = [a for a in accounts.list_users(console.rt) if a.oidc_subject == "sub-ada-1"]
    assert account.username == "ada" and account.role == "approver"

    # the provider now says reviewer: the same account, the new role
    client, done = sign_on(console, provider, claims | {"kyc_role": "reviewer"})
    assert done.status_code == 303
    (account,) = [a for a in accounts.list_users(console.rt) if a.oidc_subject == "sub-ada-1"]
    assert account.role == "reviewer"
    # no role claim: viewer
    _, done = sign_on(console, provider, {"sub": "sub-bo-2", "preferred_username": "bo"})
    assert done.status_code == 303
    (bo,) = [a for a in accounts.list_users(console.rt) if a.oidc_subject == "sub-bo-2"]
    assert bo.role == "viewer"


def test_a_local_username_is_not_taken_over(console: Console, provider: Provider) -> None:
    accounts.add_user(console.rt, "carol", role=accounts.Role.ADMIN, password="x" * 12)
    _, done = sign_on(console, provider, {"sub": "sub-carol", "preferred_username": "carol"})
    assert done.status_code == 303
    (sso,) = [a for a in accounts.list_users(console.rt) if a.oidc_subject == "sub-carol"]
    assert sso.username.startswith("carol-") and sso.role == "viewer"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"aud": "someone-else"}, "another client"),
        ({"exp": 1_000_000}, "expired"),
        ({"nonce": "not-this-login"}, "nonce"),
        ({"iss": "https://evil.example"}, "another issuer"),
    ],
)
def test_bad_id_tokens_are_refused(
    console: Console, provider: Provider, override: dict[str, Any], message: str
) -> None:
    provider.override = override
    client, done = sign_on(console, provider, {"sub": "sub-x", "preferred_username": "x"})
    assert done.status_code == 403 and message in done.text
    assert "kyc_session=" not in done.headers.get("set-cookie", "")
    assert client.get("/").status_code == 303


def test_a_token_signed_by_another_key_is_refused(console: Console, provider: Provider) -> None:
    provider.sign_with = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _, done = sign_on(console, provider, {"sub": "sub-y", "preferred_username": "y"})
    assert done.status_code == 403 and "signature does not verify" in done.text


def test_state_must_match_and_disabled_accounts_stay_out(
    console: Console, provider: Provider
) -> None:
    provider.claims = {"sub": "sub-z", "preferred_username": "zed"}
    client = console.client()
    start = client.get("/login/sso")
    back = httpx.get(start.headers["location"], follow_redirects=False)
    forged = back.headers["location"].replace("state=", "state=forged")
    refused = client.get(forged)
    assert refused.status_code == 403 and "state does not match" in refused.text
    # without the flow cookie (another browser): refused too
    assert console.client().get(back.headers["location"]).status_code == 403

    _, done = sign_on(console, provider, {"sub": "sub-z", "preferred_username": "zed"})
    assert done.status_code == 303
    accounts.disable_user(console.rt, "zed")
    _, done = sign_on(console, provider, {"sub": "sub-z", "preferred_username": "zed"})
    assert done.status_code == 403 and "disabled" in done.text
