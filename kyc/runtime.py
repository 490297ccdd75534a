"""The one container of process state: engines, stores, database, channels, quality gate.

Flows, tasks, the CLI, the web app and the workers all get what has state from a
:class:`Runtime` built from one :class:`~kyc.settings.Settings` value::

    rt = runtime.current()            # the runtime of the process settings
    rt.engines.face_matcher           # engines chosen by kyc.wiring
    rt.store("s3://bucket/prefix")    # object stores, one per landing URI
    rt.db                             # the migrated SQLAlchemy engine
    rt.channels, rt.gate, rt.registers

Runtimes are cached on the **whole settings value** (every field, secrets included),
so changing any setting — a URL, a token, a TTL — gives a new runtime, never stale
engines. Everything is built lazily, on first use.

Two kinds of state live here and nowhere else:

* per runtime: what depends on its settings (engines, stores, the database engine,
  channels, the register cache); freed by :meth:`Runtime.close`;
* shared by every runtime of the process (:meth:`Runtime.shared`): heavy objects that
  depend only on the arguments they are built with (the local document reader's
  Tesseract handles, the Great Expectations worker process, migrations already
  applied to a database URL), keyed on exactly those arguments. Tests create a
  runtime per test (a fresh database each); without this pool each would start its
  own GX worker process. Freed by :func:`shutdown` (at exit).
"""

from __future__ import annotations

import atexit
import contextvars
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from pydantic import SecretStr

from kyc.settings import Settings, get_settings
from kyc.storage.base import ObjectStore

if TYPE_CHECKING:
    from kyc.notify.dispatch import Channels
    from kyc.quality.gate import QualityGate
    from kyc.services.claims import ClaimKeeper
    from kyc.services.registers import RegisterChecker
    from kyc.storage.envelope import Envelope
    from kyc.wiring import Engines

log = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.RLock()
#: settings_key -> Runtime
_runtimes: dict[str, Runtime] = {}
#: id(settings object) -> (that object, its Runtime): a shortcut for current() that
#: skips hashing the settings; holding the object keeps its id from being reused.
_by_identity: dict[int, tuple[Settings, Runtime]] = {}
#: The process-wide pool of heavy, configuration-keyed objects (see the module doc).
_shared: dict[Hashable, Any] = {}
_shared_locks: dict[Hashable, threading.Lock] = {}


def settings_key(settings: Settings) -> str:
    """A digest of every settings field (secrets included, never stored in clear)."""

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "secret:" + value.get_secret_value()
        if isinstance(value, Path):
            return str(value)
        raise TypeError(f"cannot key settings on {type(value).__name__}")

    text = json.dumps(settings.model_dump(), sort_keys=True, default=plain)
    return hashlib.sha256(text.encode()).hexdigest()


def shared(key: Hashable, build: Callable[[], T]) -> T:
    """The process-wide instance for ``key``, built once by ``build``.

    ``key`` must name everything the object is built from (e.g. ``("gate",
    expectations_dir, worker_process)``): two runtimes share the object only when
    they would have built the same one.
    """
    with _lock:
        if key in _shared:
            return _shared[key]
        key_lock = _shared_locks.setdefault(key, threading.Lock())
    # Build outside the global lock: a GX worker takes seconds to start, and other
    # keys must not wait for it.
    with key_lock:
        with _lock:
            if key in _shared:
                return _shared[key]
        value = build()
        with _lock:
            _shared[key] = value
        return value


class Runtime:
    """Everything with state, built from one settings value (see the module doc).

    Use :meth:`from_settings` or :func:`current`; the constructor does not cache.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()
        self._engines: Engines | None = None
        self._db: sa.Engine | None = None
        self._stores: dict[str, ObjectStore] = {}
        self._channels: Channels | None = None
        self._registers: RegisterChecker | None = None
        self._claims: ClaimKeeper | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """The runtime of this settings value (cached on the whole value)."""
        with _lock:
            known = _by_identity.get(id(settings))
            if known is not None and known[0] is settings:
                return known[1]
            key = settings_key(settings)
            found = _runtimes.get(key)
            if found is None:
                found = _runtimes[key] = cls(settings)
            _by_identity[id(settings)] = (settings, found)
            return found

    # -- parts ----------------------------------------------------------------------

    @property
    def db(self) -> sa.Engine:
        """The SQLAlchemy engine of KYC_DATABASE_URL (or the embedded PostgreSQL), migrated."""
        if self._db is None:
            with self._lock:
                if self._db is None:
                    from kyc.db.engine import make_engine, resolve_database_url, upgrade

                    url = resolve_database_url(self.settings)
                    # Migrations once per database and process, whatever the runtime.
                    shared(("migrated", url), lambda: upgrade(url))
                    self._db = make_engine(url)
        return self._db

    def store(self, uri: str) -> ObjectStore:
        """The ObjectStore for a landing URI (folder or ``s3://bucket/prefix``)."""
        found = self._stores.get(uri)
        if found is None:
            with self._lock:
                found = self._stores.get(uri)
                if found is None:
                    from kyc.storage.factory import open_store

                    found = self._stores[uri] = open_store(
                        uri,
                        endpoint_url=self.settings.s3_endpoint_url,
                        region=self.settings.aws_region,
                        envelope=self.envelope(),
                        kms_key_id=self.settings.kms_key_id,
                        require_encryption=self.settings.s3_require_encryption,
                    )
        return found

    def envelope(self) -> Envelope | None:
        """Envelope encryption for local stores, from the settings (None: plain files)."""
        from kyc.storage.envelope import Envelope, KmsKey, MasterKey, decode_master_key

        s = self.settings
        older = [
            MasterKey(decode_master_key(k))
            for k in (
                s.store_previous_master_keys.get_secret_value().split(",")
                if s.store_previous_master_keys
                else []
            )
            if k.strip()
        ]
        if s.store_master_key is not None:
            return Envelope(
                MasterKey(decode_master_key(s.store_master_key.get_secret_value())), older
            )
        if s.kms_key_id:
            from kyc.clients.aws import make_client

            kms = make_client("kms", s, endpoint_url=s.kms_endpoint_url)
            return Envelope(KmsKey(s.kms_key_id, kms), older)
        return None

    @property
    def engines(self) -> Engines:
        """The engines the settings choose (see kyc.wiring); built on first use.

        Raises:
            EngineUnavailable: an engine cannot run here (clear message).
        """
        if self._engines is None:
            with self._lock:
                if self._engines is None:
                    from kyc.wiring import build_engines

                    self._engines = build_engines(
                        self.settings, database=lambda: self.db, share=shared
                    )
        return self._engines

    @property
    def gate(self) -> QualityGate:
        """The Great Expectations gate (shared by runtimes with the same suites and mode)."""
        from kyc.quality.gate import QualityGate

        directory, in_process = self.settings.expectations_dir, self.settings.quality_gate_process
        return shared(
            ("quality-gate", str(directory), in_process),
            lambda: QualityGate(directory, worker_process=in_process),
        )

    @property
    def channels(self) -> Channels:
        """The notification channels the settings configure (webhook, SNS, email)."""
        if self._channels is None:
            with self._lock:
                if self._channels is None:
                    from kyc.notify.dispatch import build_channels

                    self._channels = build_channels(self.settings)
        return self._channels

    @property
    def registers(self) -> RegisterChecker:
        """The register client behind number validation and the register cache."""
        if self._registers is None:
            with self._lock:
                if self._registers is None:
                    from kyc.services.registers import RegisterChecker

                    self._registers = RegisterChecker(
                        self.engines.register_client,
                        lambda: self.db,
                        ttl_seconds=self.settings.register_cache_ttl_seconds,
                    )
        return self._registers

    @property
    def claims(self) -> ClaimKeeper:
        """This process's claims on applications in flight (one heartbeat per runtime)."""
        if self._claims is None:
            with self._lock:
                if self._claims is None:
                    from kyc.services.claims import ClaimKeeper

                    self._claims = ClaimKeeper(
                        lambda: self.db, lease_seconds=self.settings.claim_lease_seconds
                    )
        return self._claims

    def versions(self) -> dict[str, str]:
        """Engine name → ``name/version`` of everything that decides, gate included."""
        from importlib.metadata import version

        return self.engines.versions() | {
            "quality_gate": "great_expectations/" + version("great_expectations")
        }

    def close(self) -> None:
        """Free what this runtime owns (database connections, clients); idempotent.

        Shared heavy objects (OCR handles, the GX worker) stay for other runtimes;
        :func:`shutdown` frees them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._claims is not None:
                # Before the database goes: held claims are released, not left to expire.
                self._claims.close()
            if self._db is not None:
                self._db.dispose()
            if self._engines is None:
                return
            pooled = {id(v) for v in _shared.values()}
            e = self._engines
            for engine in (e.document_reader, e.face_matcher, e.register_client):
                close = getattr(engine, "close", None)
                if callable(close) and id(engine) not in pooled:
                    close()


#: A runtime chosen for the current context (see :func:`using`), else None.
_chosen: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "kyc_runtime", default=None
)


def current() -> Runtime:
    """The runtime of the process settings (:func:`kyc.settings.get_settings`).

    Inside :func:`using`, the runtime given there instead.
    """
    chosen = _chosen.get()
    return chosen if chosen is not None else Runtime.from_settings(get_settings())


@contextmanager
def using(rt: Runtime) -> Iterator[Runtime]:
    """Make :func:`current` return ``rt`` in this context.

    Threads started with a copy of the context (as :class:`flows.runner.InlineRunner`
    does) see it too. The web app runs on the settings it was built with, which need not be the
    process settings; when it decides an upload itself (``KYC_INTAKE_PROCESS=inline``)
    the pipeline's tasks must find that app's database and stores.
    """
    token = _chosen.set(rt)
    try:
        yield rt
    finally:
        _chosen.reset(token)


def database() -> sa.Engine:
    """Shorthand for ``current().db``."""
    return current().db


def store(uri: str) -> ObjectStore:
    """Shorthand for ``current().store(uri)``."""
    return current().store(uri)


def reset() -> None:
    """Close every runtime and forget the settings (tests; after settings change).

    The shared pool stays (see the module doc); :func:`shutdown` empties it.
    """
    with _lock:
        runtimes = list(_runtimes.values())
        _runtimes.clear()
        _by_identity.clear()
    for rt in runtimes:
        rt.close()
    get_settings.cache_clear()


def shutdown() -> None:
    """Close every runtime and the shared pool (process exit)."""
    reset()
    with _lock:
        pooled = list(_shared.values())
        _shared.clear()
        _shared_locks.clear()
    for obj in pooled:
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # exit path: report, keep closing the others
                log.exception("closing %s failed", type(obj).__name__)


atexit.register(shutdown)


__all__ = [
    "Runtime",
    "current",
    "database",
    "reset",
    "settings_key",
    "shared",
    "shutdown",
    "store",
    "using",
]
