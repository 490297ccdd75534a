"""The demo's review console accounts: one reviewer and one approver.

``kyc demo`` (``make demo``) leaves MANUAL_REVIEW cases in the database that
``make up`` serves; these two accounts let whoever ran it open the console and
decide them, four-eyes included (the approver gives the second approval). Their
password is ``KYC_DEMO_PASSWORD`` when set, else a new random one each run, printed
once by the demo and stored only as an argon2id hash. Never in production.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from kyc.domain.review import Role
from kyc.runtime import Runtime
from kyc.services import accounts

#: The demo accounts: fixed usernames (the README names them), their roles.
DEMO_ACCOUNTS: tuple[tuple[str, Role, str], ...] = (
    ("demo-reviewer", Role.REVIEWER, "Demo reviewer"),
    ("demo-approver", Role.APPROVER, "Demo approver"),
)


class DemoAccountsRefused(Exception):
    """The demo accounts are not made here (a production environment)."""


@dataclass(frozen=True, slots=True)
class DemoAccounts:
    """What :func:`ensure_demo_accounts` did."""

    usernames: tuple[str, ...]
    created: tuple[str, ...]
    password: str
    #: True when the password came from KYC_DEMO_PASSWORD (then it is not printed).
    chosen: bool


def ensure_demo_accounts(rt: Runtime) -> DemoAccounts:
    """Create the demo accounts, or set their password again if they exist.

    Raises:
        DemoAccountsRefused: the environment is production: accounts with a
            published username and a password printed on a terminal have no place
            there (``kyc users add`` makes real ones).
        kyc.services.accounts.AccountError: KYC_DEMO_PASSWORD is too short.
    """
    settings = rt.settings
    if settings.environment == "production":
        raise DemoAccountsRefused(
            "KYC_ENVIRONMENT is production: no demo accounts (create real ones with kyc users add)"
        )
    chosen = settings.demo_password is not None
    password = (
        settings.demo_password.get_secret_value()
        if settings.demo_password is not None
        else secrets.token_urlsafe(12)  # 16 characters, 96 bits
    )
    existing = {a.username for a in accounts.list_users(rt)}
    created: list[str] = []
    for username, role, display_name in DEMO_ACCOUNTS:
        if username in existing:
            # A new demo run prints a new password: the old one may be long lost.
            accounts.set_password(rt, username, password)
        else:
            accounts.add_user(rt, username, role=role, display_name=display_name, password=password)
            created.append(username)
    return DemoAccounts(
        usernames=tuple(u for u, _, _ in DEMO_ACCOUNTS),
        created=tuple(created),
        password=password,
        chosen=chosen,
    )
