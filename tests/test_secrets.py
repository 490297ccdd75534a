"""Placeholder secrets are refused outside development (issue 16)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kyc.notify.webhook import generate_secret
from kyc.settings import Settings, is_placeholder
from kyc.storage.envelope import generate_master_key

REAL = "7d1f0c9e-4b2a-4e55-9c3b-0f6b1a2d3e4f"


@pytest.mark.parametrize(
    "value",
    ["", "changeme", "CHANGE-ME", "secret", "password", "short", "<your token here>",
     "${SMTP_PASSWORD}", "xxxxxxxxxxxxxxxx", "my-placeholder-token"],
)  # fmt: skip
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    # A fixed test id: a random value in the id differs between test processes.
    [REAL, pytest.param(generate_secret(), id="generated"), "correct horse battery staple"],
)
def test_real_secrets(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("smtp_password", "changeme", "KYC_SMTP_PASSWORD"),
        ("apify_token", "secret", "KYC_APIFY_TOKEN"),
        ("licence_http_auth_value", "Bearer x", "KYC_LICENCE_HTTP_AUTH_VALUE"),
        ("oidc_client_secret", "<client secret>", "KYC_OIDC_CLIENT_SECRET"),
        ("database_url", "postgresql://kyc:kyc@db/kyc", "KYC_DATABASE_URL PASSWORD"),
        (
            "prefect_database_url",
            "postgresql://p:password@db/p",
            "KYC_PREFECT_DATABASE_URL PASSWORD",
        ),
    ],
)
def test_a_placeholder_secret_is_refused_in_production_and_test(
    field: str, value: str, named: str
) -> None:
    for environment in ("production", "test"):
        with pytest.raises(ValidationError, match=named):
            Settings(_env_file=None, environment=environment, **{field: value})  # type: ignore[call-arg]
    # development keeps working with anything (the demo, a laptop)
    Settings(_env_file=None, environment="development", **{field: value})  # type: ignore[call-arg]


def test_real_secrets_and_passwordless_urls_are_accepted_in_production() -> None:
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        database_url="postgresql://kyc@db.internal/kyc",  # IAM / peer / certificate auth
        smtp_password=REAL,
        apify_token=REAL,
        webhook_url="https://hooks.example/kyc",
        webhook_secret=generate_secret(),
        store_master_key=generate_master_key(),
    )
    assert s.environment == "production"


def test_production_refuses_a_local_landing_without_encryption() -> None:
    with pytest.raises(ValidationError, match="KYC_STORE_MASTER_KEY"):
        Settings(_env_file=None, environment="production", landing="/srv/landing")  # type: ignore[call-arg]
    Settings(  # type: ignore[call-arg]
        _env_file=None, environment="production", landing="/srv/landing", store_allow_plaintext=True
    )
    Settings(_env_file=None, environment="production", landing="s3://bucket/landing")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="32 random bytes"):
        Settings(_env_file=None, store_master_key="not-a-key")  # type: ignore[call-arg]


def test_the_error_never_shows_the_secret() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, environment="production", smtp_password="hunter2")  # type: ignore[call-arg]
    assert "hunter2" not in str(info.value)


def test_the_prefect_auth_string_is_a_secret_user_password_pair() -> None:
    for environment in ("production", "test"):
        for weak in ("kyc:changeme", "kyc:password", "kyc:short", "kyc:"):
            with pytest.raises(ValidationError, match="KYC_PREFECT_AUTH_STRING PASSWORD") as info:
                Settings(_env_file=None, environment=environment, prefect_auth_string=weak)  # type: ignore[call-arg]
            assert weak not in str(info.value)
    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        landing="s3://b/l",
        prefect_auth_string=f"kyc-ops:{REAL}",
    )
    assert s.prefect_auth_string is not None
    Settings(_env_file=None, prefect_auth_string="kyc:changeme")  # type: ignore[call-arg]  # development
    # Basic auth needs a user and a password (a proxy, a URL with credentials).
    with pytest.raises(ValidationError, match="user:password"):
        Settings(_env_file=None, prefect_auth_string=REAL)  # type: ignore[call-arg]


def test_basic_authorization_is_what_prefect_sends_and_checks() -> None:
    import base64

    from kyc.settings import basic_authorization

    header = basic_authorization("kyc-ops:pässword")
    scheme, token = header.split()
    assert scheme == "Basic"
    # Prefect's server: base64-decode, UTF-8, compare with the whole auth string.
    assert base64.b64decode(token).decode("utf-8") == "kyc-ops:pässword"
