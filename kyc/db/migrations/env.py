"""Alembic environment for the KYC pipeline (PostgreSQL only).

Two ways in:

* programmatic (:func:`kyc.db.engine.upgrade`): the caller passes an open
  connection in ``config.attributes["connection"]`` and already holds the
  migration advisory lock;
* the ``alembic`` command line: the URL comes from ``-x url=...`` or else from the
  settings (``KYC_DATABASE_URL`` or the embedded server), and this module takes the
  same advisory lock itself.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from kyc.db.engine import migration_lock, normalise_url, resolve_database_url
from kyc.db.models import Base, include_object
from kyc.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    """URL from ``-x url=...``, else from the settings."""
    override = context.get_x_argument(as_dictionary=True).get("url")
    return normalise_url(override) if override else resolve_database_url(get_settings())


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn, migration_lock(conn):
            _configure_and_run(conn)
            if conn.in_transaction():
                conn.commit()
    finally:
        engine.dispose()


# Configure logging from the ini only for the command line: a programmatic upgrade
# inside the pipeline must not replace the application's logging setup.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
