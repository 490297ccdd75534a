"""API keys of client systems: stored as a prefix and the SHA-256 of the whole key.

The key itself is never stored: it is shown once when created. Every change is
audited (``entity = 'api_key'``, ids and names only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db.models import ApiKey
from kyc.db.repository import audit


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    """One API key, without its hash."""

    api_key_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


def _row(key: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(
        api_key_id=key.api_key_id,
        name=key.name,
        prefix=key.prefix,
        scopes=list(key.scopes),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        last_used_at=key.last_used_at,
    )


def _audit(session: Session, key: ApiKey, action: str, actor: str) -> None:
    audit(
        session,
        application_id=None,
        entity="api_key",
        entity_id=key.api_key_id,
        action=action,
        detail={"prefix": key.prefix, "name": key.name, "scopes": list(key.scopes)},
        actor=actor,
    )


def insert_api_key(
    session: Session, *, name: str, prefix: str, key_hash: str, scopes: list[str], actor: str
) -> ApiKeyRow:
    """Store a new key (its hash). Raises IntegrityError on a prefix or hash collision."""
    key = ApiKey(
        api_key_id=uuid.uuid4(), name=name, prefix=prefix, key_hash=key_hash, scopes=scopes
    )
    session.add(key)
    session.flush()
    _audit(session, key, "created", actor)
    session.flush()
    session.refresh(key)
    return _row(key)


def list_api_keys(session: Session) -> list[ApiKeyRow]:
    """Every key, oldest first (revoked ones too)."""
    keys = session.scalars(sa.select(ApiKey).order_by(ApiKey.created_at, ApiKey.prefix))
    return [_row(k) for k in keys]


def revoke_api_key(session: Session, *, prefix: str, actor: str) -> ApiKeyRow | None:
    """Revoke the key with ``prefix`` (a revoked key stays revoked); None if unknown."""
    key = session.scalars(
        sa.select(ApiKey).where(ApiKey.prefix == prefix).with_for_update()
    ).one_or_none()
    if key is None:
        return None
    if key.revoked_at is None:
        key.revoked_at = session.execute(sa.select(sa.func.now())).scalar_one()
        _audit(session, key, "revoked", actor)
        session.flush()
    return _row(key)


def key_for_prefix(session: Session, *, prefix: str) -> tuple[ApiKeyRow, str] | None:
    """The usable (not revoked) key with ``prefix`` and its stored hash, or None."""
    key = session.scalars(
        sa.select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).one_or_none()
    return None if key is None else (_row(key), key.key_hash)


def touch_api_key(session: Session, *, api_key_id: uuid.UUID, every_seconds: float) -> None:
    """Set ``last_used_at`` to now, unless it was set less than ``every_seconds`` ago.

    A key used for every upload would otherwise rewrite its row on every request.
    """
    session.execute(
        sa.update(ApiKey)
        .where(
            ApiKey.api_key_id == api_key_id,
            sa.or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at < sa.func.now() - dt.timedelta(seconds=every_seconds),
            ),
        )
        .values(last_used_at=sa.func.now())
    )
