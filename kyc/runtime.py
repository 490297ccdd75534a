"""Process-wide resources shared by flows, tasks and the CLI: database, store, engines.

Built lazily, once per process, from the one Settings object. Tests reset them with
:func:`reset`.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import sqlalchemy as sa

from kyc.settings import Settings, get_settings
from kyc.storage.base import ObjectStore

_lock = threading.Lock()
_engines: dict[str, sa.Engine] = {}


def database(settings: Settings | None = None) -> sa.Engine:
    """The SQLAlchemy engine for KYC_DATABASE_URL (or the embedded PostgreSQL), migrated."""
    from kyc.db.engine import make_engine, resolve_database_url, upgrade

    settings = settings or get_settings()
    url = resolve_database_url(settings)
    with _lock:
        if url not in _engines:
            upgrade(url)
            _engines[url] = make_engine(url)
        return _engines[url]


@lru_cache(maxsize=16)
def store(uri: str) -> ObjectStore:
    """The ObjectStore for a landing URI (folder or s3://bucket/prefix)."""
    from kyc.storage.factory import open_store

    s = get_settings()
    return open_store(uri, endpoint_url=s.s3_endpoint_url, region=s.aws_region)


def reset() -> None:
    """Forget cached resources (tests; after settings change)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
    store.cache_clear()
    get_settings.cache_clear()
