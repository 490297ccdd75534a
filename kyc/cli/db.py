"""``kyc db``: database maintenance."""

from __future__ import annotations

import typer

from kyc.cli.common import console


def upgrade() -> None:
    """Apply the Alembic migrations to KYC_DATABASE_URL (or the embedded database)."""
    from kyc import runtime

    runtime.database()
    console.print("database is at the latest migration")


def create_app_role(
    role: str = typer.Argument("kyc_app", help="Name of the role to create or refresh."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the role's password from standard input."
    ),
) -> None:
    """Create the least-privileged role the pipeline connects as (run as the owner).

    Then point KYC_DATABASE_URL at that role; keep the owner's URL for
    ``kyc db upgrade`` only.
    """
    import sys

    from kyc import runtime
    from kyc.db.roles import create_app_role as create

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with runtime.database().begin() as conn:
        create(conn, role, password)
    console.print(f"role {role} can read and write rows; no DDL, no changes to decisions or audit")
