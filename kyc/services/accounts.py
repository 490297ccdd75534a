"""Console accounts: users, password logins, the login rate limit, server-side sessions.

Passwords are argon2id hashes (argon2-cffi's :class:`~argon2.PasswordHasher`
defaults), rehashed on login when the parameters change. A login for an unknown
user verifies against a dummy hash so that it takes as long as a wrong password:
response times do not tell which usernames exist.

A session is a random 32-byte token in the browser's cookie; the database keeps
only its SHA-256 (``console_sessions.token_hash``), with the session's CSRF token
and a fixed expiry. Logging out deletes the row; an expired row is refused.

The login rate limit (:class:`LoginLimiter`) is kept in the web process's memory:
several web processes each count on their own, and a restart forgets the counts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kyc.db import accounts as store
from kyc.db.engine import session_scope
from kyc.db.models import ConsoleUser
from kyc.domain.review import Role
from kyc.runtime import Runtime

#: Usernames: short, printable, no spaces (they appear in audit rows and URLs).
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
#: The shortest password ``kyc users add`` accepts.
MIN_PASSWORD = 10


class AccountError(Exception):
    """An account operation refused (the message says why; it holds no password)."""


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The user behind a live session (what the console's pages act as)."""

    console_user_id: uuid.UUID
    username: str
    display_name: str
    role: Role
    csrf_token: str
    token_hash: str


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, the library's current recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash no password matches: unknown users are verified against it (same cost)."""
    return _hasher().hash(secrets.token_urlsafe(32))


def hash_password(password: str) -> str:
    """The argon2id hash of a password (refuses short ones)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return _hasher().hash(password)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) of a session token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------------------
# account management (``kyc users``)
# --------------------------------------------------------------------------------------


def add_user(
    rt: Runtime,
    username: str,
    *,
    role: Role,
    display_name: str | None = None,
    password: str | None = None,
    oidc_subject: str | None = None,
) -> store.Account:
    """Create a console account with a password (or an OIDC subject).

    Raises:
        AccountError: a malformed or taken username, a short password, neither a
            password nor a subject.
    """
    if not USERNAME.match(username):
        raise AccountError(
            "a username is 1-64 letters, digits or . _ @ - (starting with a letter or digit)"
        )
    if password is None and oidc_subject is None:
        raise AccountError("give a password (or an OpenID Connect subject)")
    hashed = hash_password(password) if password is not None else None
    with session_scope(rt.db) as s:
        if store.by_username(s, username) is not None:
            raise AccountError(f"the username {username!r} is taken")
        return store.add_user(
            s,
            username=username,
            display_name=(display_name or username).strip()[:200],
            role=role.value,
            password_hash=hashed,
            oidc_subject=oidc_subject,
        )


def list_users(rt: Runtime) -> list[store.Account]:
    """Every account, by username."""
    with session_scope(rt.db) as s:
        return store.list_users(s)


def _change(rt: Runtime, username: str, change: Callable[[ConsoleUser], None]) -> store.Account:
    """Apply ``change`` to an account and end its sessions (they carried the old state).

    Raises:
        AccountError: no such user.
    """
    with session_scope(rt.db) as s:
        row = store.by_username(s, username)
        if row is None:
            raise AccountError(f"no console user {username!r}")
        change(row)
        store.end_sessions(s, row.console_user_id)
        s.flush()
        return store.as_account(row)


def disable_user(rt: Runtime, username: str) -> store.Account:
    """Disable an account; its sessions end at once.

    Raises:
        AccountError: no such user.
    """

    def disable(row: ConsoleUser) -> None:
        row.disabled_at = row.disabled_at or _now()

    return _change(rt, username, disable)


def set_role(rt: Runtime, username: str, role: Role) -> store.Account:
    """Change an account's role; its sessions end.

    Raises:
        AccountError: no such user.
    """
    return _change(rt, username, lambda row: setattr(row, "role", role.value))


def set_password(rt: Runtime, username: str, password: str) -> store.Account:
    """Set a new password; the account's sessions end.

    Raises:
        AccountError: no such user, or a short password.
    """
    hashed = hash_password(password)
    return _change(rt, username, lambda row: setattr(row, "password_hash", hashed))


def sso_account(
    rt: Runtime, *, subject: str, username_hint: str, display_name: str, role: Role
) -> store.Account:
    """The account of an OpenID Connect subject, made on its first login.

    The identity provider is the authority on the role: it is set from the ID
    token's claim at every login. A local account with the same username is never
    taken over: the new account gets a suffixed name instead.

    Raises:
        AccountError: the subject's account is disabled.
    """
    base = re.sub(r"[^A-Za-z0-9_.@-]", "-", username_hint).strip("-._@")[:48] or "sso"
    if not base[0].isalnum():
        base = "sso-" + base
    with session_scope(rt.db) as s:
        row = store.by_subject(s, subject)
        if row is not None:
            if row.disabled_at is not None:
                raise AccountError("this account is disabled")
            row.role = role.value
            row.display_name = display_name[:200] or row.display_name
            s.flush()
            return store.as_account(row)
        name = base
        if store.by_username(s, name) is not None:
            name = f"{base}-{hashlib.sha256(subject.encode()).hexdigest()[:6]}"
        return store.add_user(
            s,
            username=name,
            display_name=display_name[:200] or name,
            role=role.value,
            password_hash=None,
            oidc_subject=subject,
        )


# --------------------------------------------------------------------------------------
# logging in
# --------------------------------------------------------------------------------------


class LoginLimiter:
    """Failed logins per username and per client address in a sliding window.

    In-process memory only: each web process counts its own failures and a restart
    forgets them (enough for one ``kyc serve``; several processes would need the
    counts in the database).
    """

    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, username: str, address: str) -> float | None:
        """Seconds until a new attempt is allowed, or None when allowed now."""
        now = time.monotonic()
        with self._lock:
            waits = [
                times[0] + self.window - now
                for key in (f"user:{username.lower()}", f"addr:{address}")
                if len(times := self._recent(key, now)) >= self.attempts
            ]
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]  # keep the map small
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        """Count one failed attempt for both the username and the address."""
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{username.lower()}", f"addr:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        """A good password clears the username's count (not the address's)."""
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)


class LoginRefused(Exception):
    """A login that did not succeed (the message is safe to show).

    Attributes:
        throttled: refused by the rate limit (no password was checked).
    """

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


def verify_login(
    rt: Runtime, limiter: LoginLimiter, username: str, password: str, address: str
) -> store.Account:
    """Check a username and password; returns the account.

    Raises:
        LoginRefused: too many failed attempts (no password is checked then), or a
            wrong username/password/disabled account (one message for all three).
    """
    username = username.strip()
    wait = limiter.blocked(username, address)
    if wait is not None:
        raise LoginRefused(
            f"too many failed logins: try again in {max(1, round(wait / 60))} minute(s)",
            throttled=True,
        )
    with session_scope(rt.db) as s:
        row = store.by_username(s, username) if USERNAME.match(username) else None
        stored = row.password_hash if row is not None and row.password_hash else None
        ok = False
        try:
            # Unknown user or no local password: the same argon2 work on a dummy hash.
            ok = _hasher().verify(stored or _dummy_hash(), password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or row is None or row.disabled_at is not None:
            limiter.failed(username, address)
            raise LoginRefused("wrong username or password, or the account is disabled")
        if _hasher().check_needs_rehash(stored or ""):
            row.password_hash = _hasher().hash(password)
        limiter.succeeded(username)
        return store.as_account(row)


def start_session(rt: Runtime, account: store.Account) -> tuple[str, dt.datetime]:
    """Open a session for an account; returns (cookie token, expiry)."""
    token = secrets.token_urlsafe(32)
    expires = _now() + dt.timedelta(seconds=rt.settings.web_session_ttl_seconds)
    with session_scope(rt.db) as s:
        store.purge_expired(s, _now())
        store.add_session(
            s,
            token_hash=token_hash(token),
            console_user_id=account.console_user_id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=expires,
        )
    return token, expires


def session_user(rt: Runtime, token: str) -> SessionUser | None:
    """The user of a cookie token; None when unknown, expired or disabled."""
    if not token or len(token) > 256:
        return None
    digest = token_hash(token)
    with session_scope(rt.db) as s:
        found = store.session_user(s, digest, _now())
        if found is None:
            return None
        user, sess = found
        return SessionUser(
            console_user_id=user.console_user_id,
            username=user.username,
            display_name=user.display_name,
            role=Role(user.role),
            csrf_token=sess.csrf_token,
            token_hash=digest,
        )


def end_session(rt: Runtime, token_hash_hex: str) -> None:
    """Log out: delete the session row."""
    with session_scope(rt.db) as s:
        store.delete_session(s, token_hash_hex)
