"""The least-privileged role: the pipeline's writes work, nothing else does (issue 16)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from kyc.db.engine import make_engine, session_scope, upgrade
from kyc.db.models import AuditLog
from kyc.db.roles import create_app_role
from tests.db.test_audit_chain import _decision
from tests.fixtures.db import DatabaseFactory

pytestmark = pytest.mark.db


@pytest.fixture
def app_role(pg_server: DatabaseFactory) -> Iterator[tuple[str, str, str]]:
    """(owner URL, app-role URL, role) on a fresh migrated database; the role dropped after."""
    owner_url = pg_server.create("kyc_roles")
    upgrade(owner_url)
    role = f"kyc_app_{uuid.uuid4().hex[:8]}"
    owner = make_engine(owner_url)
    with owner.begin() as conn:
        create_app_role(conn, role, "a-long-test-password-1")
        create_app_role(conn, role, None)  # idempotent refresh
    parsed = sa.engine.make_url(owner_url)
    role_url = parsed.set(username=role, password="a-long-test-password-1").render_as_string(
        hide_password=False
    )
    yield owner_url, role_url, role
    with owner.begin() as conn:
        conn.execute(sa.text(f"DROP OWNED BY {role}"))
        conn.execute(sa.text(f"DROP ROLE {role}"))
    owner.dispose()


def test_the_app_role_writes_rows_and_nothing_else(app_role: tuple[str, str, str]) -> None:
    _, role_url, role = app_role
    upgrade(role_url)  # already at head: a no-op the role may run
    engine = make_engine(role_url)
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT current_user")).scalar() == role
            flags = conn.execute(
                sa.text(
                    "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = :r"
                ),
                {"r": role},
            ).one()
            assert tuple(flags) == (False, False, False)
            _decision(conn)  # users, applications, a decision
            conn.execute(sa.text("SELECT pg_notify('kyc_review', 'x')"))
        with session_scope(engine) as s:
            s.add(AuditLog(entity="t", entity_id="1", action="wrote"))
        for refused in (
            "CREATE TABLE intruder (x int)",
            "ALTER TABLE users ADD COLUMN x int",
            "UPDATE kyc_decisions SET decision = 'PASS'",
            "DELETE FROM kyc_decisions",
            "DELETE FROM audit_log",
            "TRUNCATE users CASCADE",
            "DROP TRIGGER audit_log_chain ON audit_log",
            "CREATE ROLE someone",
        ):
            with (
                pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"),
                engine.begin() as conn,
            ):
                conn.execute(sa.text(refused))
    finally:
        engine.dispose()
