"""The demo's console accounts (kyc/demo/accounts.py) on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from kyc.demo.accounts import DemoAccountsRefused, ensure_demo_accounts
from kyc.runtime import Runtime
from kyc.services import accounts
from kyc.services.accounts import AccountError, LoginLimiter, LoginRefused
from tests.services.conftest import service_settings

pytestmark = pytest.mark.db


def _logs_in(rt: Runtime, username: str, password: str) -> bool:
    try:
        accounts.verify_login(rt, LoginLimiter(100, 60), username, password, "127.0.0.1")
    except LoginRefused:
        return False
    return True


def test_the_demo_makes_a_reviewer_and_an_approver_with_a_password_shown_once(
    rt: Runtime,
) -> None:
    made = ensure_demo_accounts(rt)
    assert made.created == ("demo-reviewer", "demo-approver") and not made.chosen
    roles = {a.username: a.role for a in accounts.list_users(rt)}
    assert roles["demo-reviewer"] == "reviewer" and roles["demo-approver"] == "approver"
    assert len(made.password) >= accounts.MIN_PASSWORD
    assert _logs_in(rt, "demo-reviewer", made.password)

    # A second run sets a new password; the old one no longer works; nothing duplicated.
    again = ensure_demo_accounts(rt)
    assert again.created == () and again.password != made.password
    assert not _logs_in(rt, "demo-approver", made.password)
    assert _logs_in(rt, "demo-approver", again.password)
    assert [a.username for a in accounts.list_users(rt)].count("demo-reviewer") == 1


@contextmanager
def runtime_with(db_url: str, landing: Path, **overrides: Any) -> Iterator[Runtime]:
    """A runtime on the module's database with other settings (closed after)."""
    rt = Runtime(service_settings(db_url, landing, **overrides))
    try:
        yield rt
    finally:
        rt.close()


def test_kyc_demo_password_is_used_and_production_gets_no_demo_accounts(
    db_url: str, landing: Path
) -> None:
    with runtime_with(db_url, landing, demo_password="a demo password") as chosen:
        made = ensure_demo_accounts(chosen)
        assert made.chosen and made.password == "a demo password"
        assert _logs_in(chosen, "demo-approver", "a demo password")
    with (
        runtime_with(db_url, landing, demo_password="short") as short,
        pytest.raises(AccountError, match="at least"),
    ):
        ensure_demo_accounts(short)
    with (
        # model_copy skips validation: the test databases' URLs carry development
        # passwords, which production settings refuse (tests/test_secrets.py).
        closing(
            Runtime(
                service_settings(db_url, landing).model_copy(update={"environment": "production"})
            )
        ) as production,
        pytest.raises(DemoAccountsRefused, match="production"),
    ):
        ensure_demo_accounts(production)
