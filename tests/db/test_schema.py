"""The schema: migrations vs sql/schema.sql vs models, downgrade, concurrent upgrades.

Also the engine plumbing that the schema depends on: URL resolution and the
embedded server shared between processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import SecretStr

from kyc.db.engine import (
    MIGRATION_LOCK_KEY,
    DatabaseConfigError,
    EmbeddedPostgresError,
    alembic_config,
    downgrade,
    embedded_database_url,
    normalise_url,
    resolve_database_url,
    upgrade,
)
from kyc.db.models import Base, include_object
from kyc.settings import PROJECT_ROOT, Settings
from tests.fixtures.db import DatabaseFactory, _libpq_dsn

pytestmark = pytest.mark.db

SCHEMA_SQL = PROJECT_ROOT / "sql" / "schema.sql"

EXPECTED_TABLES = {
    "users",
    "console_users",
    "console_sessions",
    "api_keys",
    "intake_requests",
    "intake_uploads",
    "review_assignments",
    "review_notes",
    "review_approvals",
    "review_outcomes",
    "notification_outbox",
    "review_queue",
    "processing_claims",
    "applications",
    "id_documents",
    "selfies",
    "doc_scans",
    "face_checks",
    "reg_checks",
    "quality_checks",
    "kyc_decisions",
    "audit_log",
    "dead_letters",
    "notification_deliveries",
    "reminders_sent",
    "liveness_checks",
    "face_embeddings",
    "register_snapshot",
    "register_cache",
    "licence_checks",
}
EXPECTED_ENUMS = {
    "reg_type_enum": ["GMC", "GDC", "NMC", "GPHC", "NONE"],
    "user_status_enum": ["PENDING", "VERIFIED", "MANUAL_REVIEW", "REJECTED"],
    "id_doc_status_enum": ["NEW", "OCR_DONE", "FACE_DONE", "QUALITY_DONE", "DECIDED", "ERROR"],
    "kyc_decision_enum": ["PASS", "MANUAL_REVIEW", "FAIL"],
    "id_doc_type_enum": ["driving_licence", "passport", "id_card"],
}
#: Alembic's own bookkeeping, present only in the migrated database.
ALEMBIC = "alembic_version"


def _head() -> str:
    from alembic.script import ScriptDirectory

    from kyc.db.engine import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


#: The latest migration (every upgrade test ends there).
HEAD = _head()

# Catalog queries: everything a schema is made of in the public schema, in a form
# that does not depend on OIDs or creation order.
CATALOG_QUERIES: dict[str, str] = {
    "tables": """
        SELECT c.relname, c.relkind::text, c.relpersistence::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY 1""",
    "columns": """
        SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
               a.attidentity::text, a.attgenerated::text, coalesce(co.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "enums": """
        SELECT t.typname, e.enumsortorder::text, e.enumlabel
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public'
        ORDER BY 1, e.enumsortorder""",
    "other_types": """
        SELECT t.typname, t.typtype::text
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype NOT IN ('e', 'c', 'b')
        ORDER BY 1""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid, true),
               k.condeferrable, k.condeferred
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, increment_by, cycle
        FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2""",
    "triggers": """
        SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2""",
    "extensions": "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
}


def catalog(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Snapshot of the public schema of the database at ``url``, minus Alembic's table."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            snap = {
                name: [tuple(row) for row in conn.execute(sa.text(query))]
                for name, query in CATALOG_QUERIES.items()
            }
    finally:
        engine.dispose()
    for key in ("tables", "columns", "constraints", "indexes"):
        snap[key] = [row for row in snap[key] if row[0] != ALEMBIC]
    return snap


def load_sql_file(url: str, path: Path) -> None:
    """Run a DDL file as a DBA would (it holds its own BEGIN/COMMIT)."""
    conn = psycopg2.connect(_libpq_dsn(url))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(path.read_text())
    finally:
        conn.close()


def _diff(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str:
    only_a = [r for r in a if r not in b]
    only_b = [r for r in b if r not in a]
    return "\n".join(
        ["only in migrated database:"]
        + [f"  {r}" for r in only_a]
        + ["only in sql/schema.sql database:"]
        + [f"  {r}" for r in only_b]
    )


# --------------------------------------------------------------------------------------
# migrations vs sql/schema.sql vs models
# --------------------------------------------------------------------------------------


def test_migrations_and_schema_sql_build_identical_catalogs(pg_server: DatabaseFactory) -> None:
    migrated, from_sql = pg_server.create("kyc_schema_a"), pg_server.create("kyc_schema_b")
    upgrade(migrated)
    load_sql_file(from_sql, SCHEMA_SQL)

    a, b = catalog(migrated), catalog(from_sql)

    # Not vacuous: the catalog really holds the schema we expect.
    assert {row[0] for row in a["tables"]} == EXPECTED_TABLES
    enums: dict[str, list[str]] = {}
    for name, _order, label in a["enums"]:
        enums.setdefault(name, []).append(label)
    assert enums == EXPECTED_ENUMS
    assert len(a["columns"]) > 100
    # Idempotency key: unique among the rules' decisions on landed objects
    # (reprocessing and reviews repeat it).
    assert any(
        row[1] == "uq_kyc_decisions_application_id_input_fingerprint"
        and "WHERE ((reprocess_of IS NULL) AND (source = 'pipeline'::text))" in row[2]
        for row in a["indexes"]
    )
    assert any("WHERE" in row[2] for row in a["indexes"])  # the partial unique indexes

    for key in CATALOG_QUERIES:
        assert a[key] == b[key], f"{key} differ:\n{_diff(a[key], b[key])}"


def test_models_match_migrations(pg_url: str) -> None:
    engine = sa.create_engine(pg_url, poolclass=sa.pool.NullPool)
    # include_object: the pgvector index exists only where the extension does.
    opts = {
        "compare_type": True,
        "compare_server_default": True,
        "include_object": include_object,
    }
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(ctx, Base.metadata) == []

            # The comparison is able to see a difference: a copy of the models with
            # one table fewer (its indexes go with it) and a column made nullable.
            altered = sa.MetaData(naming_convention=Base.metadata.naming_convention)
            for table in Base.metadata.sorted_tables:
                table.to_metadata(altered)
            altered.remove(altered.tables["audit_log"])
            altered.tables["users"].c.email.nullable = True
            diffs = compare_metadata(MigrationContext.configure(conn, opts=opts), altered)
            kinds = {d[0] if isinstance(d, tuple) else d[0][0] for d in diffs}
            assert kinds == {"remove_table", "remove_index", "modify_nullable"}
    finally:
        engine.dispose()


def test_downgrade_to_base_leaves_nothing_and_upgrade_again_works(
    pg_server: DatabaseFactory,
) -> None:
    url = pg_server.create("kyc_downgrade")
    upgrade(url)
    downgrade(url, "base")
    snap = catalog(url)
    assert snap["tables"] == []
    assert snap["enums"] == []
    assert snap["other_types"] == []
    assert snap["sequences"] == []
    assert snap["indexes"] == []

    upgrade(url)
    assert {row[0] for row in catalog(url)["tables"]} == EXPECTED_TABLES


_UPGRADER = textwrap.dedent(
    """
    import sys
    from kyc.db.engine import upgrade
    print("ready", flush=True)
    sys.stdin.readline()  # start together: everything is imported, wait for "go"
    upgrade(sys.argv[1])
    print("done", flush=True)
    """
)


def test_concurrent_upgrades_from_several_processes_are_serialised(
    pg_server: DatabaseFactory,
) -> None:
    url = pg_server.create("kyc_concurrent")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        for _ in range(3)
    ]
    for proc in procs:  # wait until every process has imported everything
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["ready"]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outcomes = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert out.split() == ["done"]
    assert _versions(url) == [(_head(),)]


def test_upgrade_waits_while_another_holds_the_migration_lock(pg_server: DatabaseFactory) -> None:
    url = pg_server.create("kyc_lock")
    holder = sa.create_engine(url, poolclass=sa.pool.NullPool)
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(url)
        except BaseException as exc:  # asserted below
            errors.append(exc)
        finally:
            done.set()

    try:
        with holder.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            worker = threading.Thread(target=run)
            worker.start()
            assert not done.wait(1.0), "upgrade did not wait for the migration lock"
            assert catalog(url)["tables"] == []
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            assert done.wait(30)
        worker.join()
    finally:
        holder.dispose()
    assert errors == []
    assert _versions(url) == [(_head(),)]


def test_concurrent_upgrades_from_threads_of_one_process(pg_server: DatabaseFactory) -> None:
    url = pg_server.create("kyc_threads")
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            upgrade(url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert _versions(url) == [(_head(),)]


def test_failed_migration_rolls_back_and_releases_the_lock(pg_server: DatabaseFactory) -> None:
    url = pg_server.create("kyc_failed")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:  # a clash the migration cannot get past
            conn.execute(sa.text("CREATE TYPE kyc_decision_enum AS ENUM ('MAYBE')"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(sa.exc.ProgrammingError, match="kyc_decision_enum"):
                upgrade(url)
        # Transactional DDL: nothing of the failed migration is left behind...
        snap = catalog(url)
        assert snap["tables"] == []
        assert [row[0] for row in snap["enums"]] == ["kyc_decision_enum"]
        # ...and the advisory lock was released, so the next upgrade is not blocked.
        with engine.connect() as conn:
            assert conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
            ).scalar()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
    finally:
        engine.dispose()


def _head() -> str:
    """The newest migration (helpers add migrations; the tests follow the chain)."""

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _versions(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# URL resolution (no server needed)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db.example:5433/kyc", "postgresql+psycopg2://u:pw@db.example:5433/kyc"),
        ("postgresql://u@h/kyc", "postgresql+psycopg2://u@h/kyc"),
        ("postgresql+psycopg2://u@h/kyc", "postgresql+psycopg2://u@h/kyc"),
    ],
)
def test_database_url_setting_wins_and_is_normalised(
    given: str, expected: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=SecretStr(given), embedded_pg_dir=tmp_path / "never")
    assert resolve_database_url(settings) == expected
    assert not (tmp_path / "never").exists()  # the embedded server was not started


@pytest.mark.parametrize("bad", ["sqlite:///kyc.db", "mysql://u@h/kyc", "not a url"])
def test_non_postgresql_urls_are_refused(bad: str) -> None:
    with pytest.raises(DatabaseConfigError):
        normalise_url(bad)


def test_embedded_dir_that_is_not_a_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "holiday.jpg").write_bytes(b"not postgres")
    with pytest.raises(EmbeddedPostgresError, match="not a PostgreSQL data directory"):
        embedded_database_url(tmp_path / "data")


# --------------------------------------------------------------------------------------
# the embedded server shared by processes
# --------------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import sqlalchemy as sa
    from kyc.db.engine import make_engine, resolve_database_url
    from kyc.settings import Settings

    url = resolve_database_url(Settings(database_url=None, embedded_pg_dir=Path(sys.argv[1])))
    engine = make_engine(url)
    def query():
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT current_database()")).scalar()
    print("ready", query(), flush=True)
    for line in sys.stdin:  # each line: run a query and report
        print("ok", query(), flush=True)
    engine.dispose()
    """
)


def _holder(pg_dir: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KYC_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(pg_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().split() == ["ready", "kyc"]
    return proc


def _ask(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("?\n")
    proc.stdin.flush()
    return proc.stdout.readline().split()


def _close(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def _server_stopped(pg_dir: Path, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not (pg_dir / "postmaster.pid").exists():
            return True
        time.sleep(0.1)
    return False


def test_two_processes_share_the_embedded_server(tmp_path: Path) -> None:
    pg_dir = tmp_path / "nested" / "pgdata"  # parents are created on demand
    first = _holder(pg_dir)
    try:
        second = _holder(pg_dir)
        assert _ask(second) == ["ok", "kyc"]
        _close(second)
        # The first process still holds the server: it must keep running.
        assert (pg_dir / "postmaster.pid").exists()
        assert _ask(first) == ["ok", "kyc"]
    finally:
        _close(first)
    assert _server_stopped(pg_dir), "the last process to exit should stop the server"

    # A holder that died without cleaning up (SIGKILL) must not keep the server
    # alive forever: its stale pid is pruned at the next start.
    (pg_dir / ".handle_pids.json").write_text("[2147483646]")
    third = _holder(pg_dir)
    _close(third)
    assert _server_stopped(pg_dir), "a stale pid kept the server running"
