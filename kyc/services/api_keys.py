"""API keys for client systems of the intake API: create, list, revoke, authenticate.

A key reads ``kyc_<prefix>_<secret>``: the prefix (8 hex characters) finds the row
and is safe to show in lists and logs; the secret is 43 URL-safe characters from
:func:`secrets.token_urlsafe`. Only the SHA-256 of the whole key is stored (a key is
random, so a slow password hash would buy nothing), and the full key is returned once,
by :func:`create_api_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from kyc.db import api_keys as store
from kyc.db.api_keys import ApiKeyRow
from kyc.db.engine import session_scope
from kyc.runtime import Runtime

#: The scope the intake API asks for.
INTAKE_SCOPE = "intake"
KEY_PREFIX = "kyc"
_SCOPE = re.compile(r"[a-z][a-z0-9_.:-]{0,39}")
_PREFIX = re.compile(r"[0-9a-f]{8}")
#: A key's ``last_used_at`` is written at most this often.
TOUCH_EVERY_SECONDS = 60.0


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked (bad name or scope, unknown prefix)."""


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``key`` is the only time the full key is available."""

    key: str
    row: ApiKeyRow


@dataclass(frozen=True, slots=True)
class Client:
    """The client system an API request was authenticated as."""

    api_key_id: uuid.UUID
    prefix: str
    name: str
    scopes: tuple[str, ...]

    def allows(self, scope: str) -> bool:
        """True when the key carries ``scope``."""
        return scope in self.scopes


def key_hash(key: str) -> str:
    """What is stored for a key: SHA-256 hex of the whole key."""
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not _PREFIX.fullmatch(parts[1]):
        return None
    return parts[1] if parts[2] else None


def create_api_key(
    rt: Runtime, name: str, scopes: list[str] | None = None, *, actor: str = "cli"
) -> CreatedKey:
    """Create a key; the returned :attr:`CreatedKey.key` is shown once and never stored.

    Args:
        rt: the runtime.
        name: who the key is for (a client system's name; shown in lists).
        scopes: what it may do; default ``["intake"]``.
        actor: who created it (audit log).

    Raises:
        ApiKeyError: an empty or over-long name, or a malformed scope.
    """
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise ApiKeyError("the key's name must be 1-100 characters")
    scopes = list(dict.fromkeys(scopes if scopes is not None else [INTAKE_SCOPE]))
    bad = [s for s in scopes if not _SCOPE.fullmatch(s)]
    if bad:
        raise ApiKeyError(f"malformed scope(s): {', '.join(map(repr, bad))}")
    for attempt in range(3):
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with session_scope(rt.db) as s:
                row = store.insert_api_key(
                    s, name=name, prefix=prefix, key_hash=key_hash(key), scopes=scopes, actor=actor
                )
            return CreatedKey(key, row)
        except sa.exc.IntegrityError:
            # 32-bit prefixes collide once in tens of thousands of keys: draw again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def list_api_keys(rt: Runtime) -> list[ApiKeyRow]:
    """Every key (no secrets, no hashes), oldest first."""
    with session_scope(rt.db) as s:
        return store.list_api_keys(s)


def revoke_api_key(rt: Runtime, prefix: str, *, actor: str = "cli") -> ApiKeyRow:
    """Revoke a key by its prefix; it is refused from the next request on.

    Raises:
        ApiKeyError: no key has that prefix.
    """
    with session_scope(rt.db) as s:
        row = store.revoke_api_key(s, prefix=prefix, actor=actor)
    if row is None:
        raise ApiKeyError(f"no API key with prefix {prefix!r}")
    return row


def authenticate(rt: Runtime, presented: str) -> Client | None:
    """The client a presented key belongs to; None for an unknown, malformed or revoked key.

    The row is found by the key's public prefix; the stored hash is compared in
    constant time, so response times say nothing about how much of a secret was right.
    ``last_used_at`` is refreshed at most once a minute per key.
    """
    prefix = split_key(presented)
    if prefix is None:
        return None
    with session_scope(rt.db) as s:
        found = store.key_for_prefix(s, prefix=prefix)
        if found is None:
            return None
        row, stored = found
        if not hmac.compare_digest(stored, key_hash(presented)):
            return None
        store.touch_api_key(s, api_key_id=row.api_key_id, every_seconds=TOUCH_EVERY_SECONDS)
    return Client(row.api_key_id, row.prefix, row.name, tuple(row.scopes))
