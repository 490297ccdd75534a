"""The least-privileged database role the pipeline and the web app connect as.

Migrations run as the schema's owner (``kyc db upgrade`` with the owner's URL, once
per release); everything else connects as a role that can read and write rows and
nothing more: no DDL, no TRUNCATE, no UPDATE or DELETE of decisions or audit rows
(the triggers of migration 0007 refuse those too: two locks on one door), not a
superuser, cannot create roles or databases. Connected as such a role, the
runtime's "upgrade head" on a database already at head only reads
``alembic_version``; on an older schema it fails with a permission error that says
to run the migrations as the owner.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

#: Tables whose rows are never changed once written (append-only).
APPEND_ONLY = ("kyc_decisions", "audit_log")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_statements(role: str, database: str) -> list[str]:
    """The GRANTs that make ``role`` the pipeline's role on ``database`` (schema public)."""
    if not _NAME.match(role):
        raise ValueError("a role name is lower-case letters, digits and _ (at most 63)")
    db = sa.sql.quoted_name(database, quote=True)
    return [
        f'GRANT CONNECT ON DATABASE "{db}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {', '.join(APPEND_ONLY)} FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
        # Tables created by later migrations (run by the owner) are granted too.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


def create_app_role(conn: sa.Connection, role: str, password: str | None) -> None:
    """Create (or update) ``role`` as a login role with the pipeline's privileges only.

    Run as the database owner. Idempotent: an existing role gets its password (when
    given) and grants refreshed, and loses any superuser or DDL attributes.
    """
    if not _NAME.match(role):
        raise ValueError("a role name is lower-case letters, digits and _ (at most 63)")
    exists = conn.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    attrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    conn.execute(sa.text(f"{'ALTER' if exists else 'CREATE'} ROLE {role} {attrs}"))
    if password is not None:
        # The password is a bound literal through format('%L'): never spliced in Python.
        quoted = conn.execute(sa.text("SELECT format('%L', CAST(:p AS text))"), {"p": password})
        conn.execute(sa.text(f"ALTER ROLE {role} PASSWORD {quoted.scalar_one()}"))
    database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    for statement in grant_statements(role, database):
        conn.execute(sa.text(statement))
