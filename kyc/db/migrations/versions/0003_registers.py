"""Professional registers: loaded register extracts, register cache, licence checks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:10:00

Written out explicitly, like 0001: a migration states the schema at its revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _reg_type() -> pg.ENUM:
    return pg.ENUM(name="reg_type_enum", create_type=False)


def _ts(name: str, *, default: bool = True, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.text("now()") if default else None,
    )


def upgrade() -> None:
    """Create register_snapshot, register_cache and licence_checks."""
    op.create_table(
        "register_snapshot",
        sa.Column("reg_type", _reg_type(), nullable=False),
        sa.Column("reg_number", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "conditions",
            pg.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        _ts("loaded_at"),
        sa.PrimaryKeyConstraint("reg_type", "reg_number", name=op.f("pk_register_snapshot")),
    )
    op.create_table(
        "register_cache",
        sa.Column("reg_type", _reg_type(), nullable=False),
        sa.Column("reg_number", sa.Text(), nullable=False),
        sa.Column("result_json", pg.JSONB(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        _ts("fetched_at"),
        _ts("expires_at", default=False),
        sa.Column("pending_run_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("reg_type", "reg_number", name=op.f("pk_register_cache")),
    )
    op.create_index(op.f("ix_register_cache_expires_at"), "register_cache", ["expires_at"])
    op.create_table(
        "licence_checks",
        sa.Column(
            "licence_check_id",
            pg.UUID(as_uuid=True),
            nullable=False,
            server_default=sa.text("gen_random_uuid()"),
        ),
        sa.Column("application_id", sa.Text(), nullable=False),
        sa.Column("engine", sa.Text(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column(
            "field_matches", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("findings", pg.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("raw_response_json", pg.JSONB(), nullable=True),
        _ts("checked_at"),
        sa.PrimaryKeyConstraint("licence_check_id", name=op.f("pk_licence_checks")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.application_id"],
            name=op.f("fk_licence_checks_application_id_applications"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_licence_checks_application_id"), "licence_checks", ["application_id"])


def downgrade() -> None:
    """Drop the three tables (their indexes go with them)."""
    for table in ("licence_checks", "register_cache", "register_snapshot"):
        op.drop_table(table)
