"""Liveness checks, verified face embeddings (duplicate identities), decisions' duplicate_of.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 00:00:00

Written out explicitly, like 0001. sql/schema.sql carries the same DDL in its
"0002" section; tests/db/test_schema.py compares the catalogs.

The one conditional part: where the server offers pgvector (the embedded
PostgreSQL 18 wheel, most managed services) the extension is created and an HNSW
index is built on the embeddings cast to ``vector(128)``; where it does not (stock
Debian PostgreSQL 15) or the role may not create it, nothing else changes — the
table is identical and the search runs as an exact scan (kyc.db.biometrics logs
that once). The same DO block is in sql/schema.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Also in sql/schema.sql (keep the two identical).
VECTOR_INDEX_DDL = """
DO $vector$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE INDEX ix_face_embeddings_embedding_hnsw ON face_embeddings
            USING hnsw ((embedding::vector(128)) vector_l2_ops);
    ELSE
        RAISE NOTICE 'pgvector is not available: duplicate-identity search will scan';
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector could not be created (privilege): duplicate-identity search will scan';
END
$vector$;
"""


def _fk(table: str, column: str, ref_table: str, ref_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{ref_table}.{ref_column}"],
        name=op.f(f"fk_{table}_{column}_{ref_table}"),
        ondelete="CASCADE",
    )


def _ts(name: str) -> sa.Column[Any]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def upgrade() -> None:
    """Create liveness_checks and face_embeddings, add kyc_decisions.duplicate_of."""
    op.create_table(
        "liveness_checks",
        sa.Column(
            "liveness_check_id",
            pg.UUID(as_uuid=True),
            nullable=False,
            server_default=sa.text("gen_random_uuid()"),
        ),
        sa.Column("application_id", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("engine", sa.Text(), nullable=False),
        sa.Column("engine_version", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=True),
        sa.Column("findings", pg.JSONB(), nullable=False),
        sa.Column("details", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "timings_ms", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("liveness_check_id", name=op.f("pk_liveness_checks")),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 100",
            name=op.f("ck_liveness_checks_confidence_range"),
        ),
        _fk("liveness_checks", "application_id", "applications", "application_id"),
    )
    op.create_index(
        op.f("ix_liveness_checks_application_id"), "liveness_checks", ["application_id"]
    )

    op.create_table(
        "face_embeddings",
        sa.Column(
            "face_embedding_id", sa.BigInteger(), sa.Identity(always=True), nullable=False
        ),
        sa.Column("application_id", sa.Text(), nullable=False),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("selfie_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("engine", sa.Text(), nullable=False),
        sa.Column("embedding", pg.ARRAY(sa.REAL()), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("face_embedding_id", name=op.f("pk_face_embeddings")),
        sa.UniqueConstraint("selfie_id", name=op.f("uq_face_embeddings_selfie_id")),
        sa.CheckConstraint(
            "cardinality(embedding) = 128", name=op.f("ck_face_embeddings_embedding_128")
        ),
        _fk("face_embeddings", "application_id", "applications", "application_id"),
        _fk("face_embeddings", "user_id", "users", "user_id"),
        _fk("face_embeddings", "selfie_id", "selfies", "selfie_id"),
    )
    op.create_index(
        op.f("ix_face_embeddings_application_id"), "face_embeddings", ["application_id"]
    )
    op.create_index(op.f("ix_face_embeddings_user_id"), "face_embeddings", ["user_id"])
    op.execute(VECTOR_INDEX_DDL)

    op.add_column(
        "kyc_decisions",
        sa.Column(
            "duplicate_of", pg.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")
        ),
    )


def downgrade() -> None:
    """Drop what upgrade() created; the extension only if nothing else uses it."""
    op.drop_column("kyc_decisions", "duplicate_of")
    op.drop_table("face_embeddings")
    op.drop_table("liveness_checks")
    op.execute(
        """
        DO $vector$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')
               AND NOT EXISTS (
                   SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                   WHERE e.extname = 'vector' AND d.deptype = 'n'
               ) THEN
                DROP EXTENSION vector;
            END IF;
        END
        $vector$;
        """
    )
