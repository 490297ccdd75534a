"""Initial schema: seed ERD, pipeline evidence, decisions, audit log, dead letters.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written out explicitly (no autogenerate, no import of kyc.db.models): a migration
must describe the schema as it was at this revision, whatever the models become.
sql/schema.sql states the same schema as plain DDL; tests/db/test_schema.py
compares the catalogs the two produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS: dict[str, tuple[str, ...]] = {
    "reg_type_enum": ("GMC", "GDC", "NMC", "GPHC", "NONE"),
    "user_status_enum": ("PENDING", "VERIFIED", "MANUAL_REVIEW", "REJECTED"),
    "id_doc_status_enum": ("NEW", "OCR_DONE", "FACE_DONE", "QUALITY_DONE", "DECIDED", "ERROR"),
    "kyc_decision_enum": ("PASS", "MANUAL_REVIEW", "FAIL"),
    "id_doc_type_enum": ("driving_licence", "passport", "id_card"),
}

# Tables in creation order (a table comes after those it references).
TABLES = (
    "users",
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
)


# Every constraint and index name is wrapped in op.f(): it is final as written and
# must not pass through the naming convention of env.py's target metadata, which
# Alembic applies to operations otherwise.


def _enum(name: str) -> pg.ENUM:
    # The types are created explicitly in upgrade(); columns only refer to them.
    return pg.ENUM(*ENUMS[name], name=name, create_type=False)


def _uuid_pk(name: str) -> sa.Column[Any]:
    return sa.Column(
        name, pg.UUID(as_uuid=True), nullable=False, server_default=sa.text("gen_random_uuid()")
    )


def _ts(name: str) -> sa.Column[Any]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def _text(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _jsonb(name: str, *, nullable: bool = False, default: str | None = None) -> sa.Column[Any]:
    return sa.Column(
        name,
        pg.JSONB(),
        nullable=nullable,
        server_default=sa.text(default) if default is not None else None,
    )


def _uuid_ref(name: str) -> sa.Column[Any]:
    return sa.Column(name, pg.UUID(as_uuid=True), nullable=False)


def _fk(table: str, column: str, ref_table: str, ref_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{ref_table}.{ref_column}"],
        name=op.f(f"fk_{table}_{column}_{ref_table}"),
        ondelete="CASCADE",
    )


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    """Create the enums, tables and indexes."""
    bind = op.get_bind()
    for name, labels in ENUMS.items():
        pg.ENUM(*labels, name=name).create(bind, checkfirst=False)

    op.create_table(
        "users",
        _uuid_pk("user_id"),
        _text("email"),
        _text("first_name"),
        _text("middle_name", nullable=True),
        _text("last_name"),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        _jsonb("address"),
        sa.Column(
            "status", _enum("user_status_enum"), nullable=False, server_default=sa.text("'PENDING'")
        ),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    _index("users", "email")

    op.create_table(
        "applications",
        _text("application_id"),
        _uuid_ref("user_id"),
        _text("landing_uri"),
        _text("input_fingerprint"),
        _jsonb("form"),
        _ts("received_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_applications")),
        sa.CheckConstraint(
            "application_id <> ''", name=op.f("ck_applications_application_id_not_empty")
        ),
        _fk("applications", "user_id", "users", "user_id"),
    )
    _index("applications", "user_id")

    op.create_table(
        "id_documents",
        _uuid_pk("id_document_id"),
        _text("application_id"),
        _uuid_ref("user_id"),
        sa.Column("doc_type", _enum("id_doc_type_enum"), nullable=False),
        _text("document_number"),
        _text("issuing_country"),
        _text("issuing_region", nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        _text("front_key"),
        _text("front_etag"),
        _text("back_key", nullable=True),
        _text("back_etag", nullable=True),
        sa.Column(
            "status", _enum("id_doc_status_enum"), nullable=False, server_default=sa.text("'NEW'")
        ),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id_document_id", name=op.f("pk_id_documents")),
        sa.CheckConstraint(
            "(back_key IS NULL) = (back_etag IS NULL)",
            name=op.f("ck_id_documents_back_key_etag_pair"),
        ),
        _fk("id_documents", "application_id", "applications", "application_id"),
        _fk("id_documents", "user_id", "users", "user_id"),
    )
    _index("id_documents", "application_id")
    _index("id_documents", "user_id")

    op.create_table(
        "selfies",
        _uuid_pk("selfie_id"),
        _text("application_id"),
        _uuid_ref("user_id"),
        _text("object_key"),
        _text("etag"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("selfie_id", name=op.f("pk_selfies")),
        _fk("selfies", "application_id", "applications", "application_id"),
        _fk("selfies", "user_id", "users", "user_id"),
    )
    _index("selfies", "application_id")
    _index("selfies", "user_id")

    op.create_table(
        "doc_scans",
        _uuid_pk("doc_scan_id"),
        _uuid_ref("id_document_id"),
        _text("engine"),
        _text("engine_version"),
        _jsonb("fields"),
        _jsonb("findings"),
        _jsonb("timings_ms"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("doc_scan_id", name=op.f("pk_doc_scans")),
        _fk("doc_scans", "id_document_id", "id_documents", "id_document_id"),
    )
    _index("doc_scans", "id_document_id")

    op.create_table(
        "face_checks",
        _uuid_pk("face_check_id"),
        _text("application_id"),
        _uuid_ref("selfie_id"),
        _uuid_ref("id_document_id"),
        _text("engine"),
        _text("engine_version"),
        sa.Column("similarity", sa.Numeric(6, 3), nullable=True),
        sa.Column("distance", sa.Double(), nullable=True),
        sa.Column("source_confidence", sa.Double(), nullable=True),
        sa.Column("target_confidence", sa.Double(), nullable=True),
        sa.Column("matched", sa.Boolean(), nullable=True),
        _jsonb("findings"),
        _jsonb("timings_ms", default="'{}'::jsonb"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("face_check_id", name=op.f("pk_face_checks")),
        sa.CheckConstraint(
            "similarity >= 0 AND similarity <= 100", name=op.f("ck_face_checks_similarity_range")
        ),
        _fk("face_checks", "application_id", "applications", "application_id"),
        _fk("face_checks", "selfie_id", "selfies", "selfie_id"),
        _fk("face_checks", "id_document_id", "id_documents", "id_document_id"),
    )
    _index("face_checks", "application_id")
    _index("face_checks", "selfie_id")
    _index("face_checks", "id_document_id")

    op.create_table(
        "reg_checks",
        _uuid_pk("reg_check_id"),
        _text("application_id"),
        _uuid_ref("user_id"),
        sa.Column("reg_type", _enum("reg_type_enum"), nullable=False),
        _text("reg_number", nullable=True),
        _text("status"),
        sa.Column("snapshot_date", sa.Date(), nullable=True),
        _text("matched_name", nullable=True),
        _text("matched_status", nullable=True),
        _jsonb("raw_response_json", nullable=True),
        _ts("checked_at"),
        sa.PrimaryKeyConstraint("reg_check_id", name=op.f("pk_reg_checks")),
        _fk("reg_checks", "application_id", "applications", "application_id"),
        _fk("reg_checks", "user_id", "users", "user_id"),
    )
    _index("reg_checks", "application_id")
    _index("reg_checks", "user_id")

    op.create_table(
        "quality_checks",
        _uuid_pk("quality_check_id"),
        _text("application_id"),
        _text("suite"),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column(
            "failed_expectations",
            pg.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("quality_check_id", name=op.f("pk_quality_checks")),
        sa.CheckConstraint("evaluated >= 0", name=op.f("ck_quality_checks_evaluated_not_negative")),
        _fk("quality_checks", "application_id", "applications", "application_id"),
    )
    _index("quality_checks", "application_id")

    op.create_table(
        "kyc_decisions",
        _uuid_pk("decision_id"),
        _text("application_id"),
        _uuid_ref("user_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision", _enum("kyc_decision_enum"), nullable=False),
        sa.Column("reasons", pg.ARRAY(sa.Text()), nullable=False),
        _jsonb("findings"),
        _jsonb("scores"),
        _jsonb("engines"),
        _text("input_fingerprint"),
        _ts("decided_at"),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_kyc_decisions")),
        sa.UniqueConstraint(
            "application_id", "version", name=op.f("uq_kyc_decisions_application_id_version")
        ),
        sa.UniqueConstraint(
            "application_id",
            "input_fingerprint",
            name=op.f("uq_kyc_decisions_application_id_input_fingerprint"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_kyc_decisions_version_positive")),
        _fk("kyc_decisions", "application_id", "applications", "application_id"),
        _fk("kyc_decisions", "user_id", "users", "user_id"),
    )
    _index("kyc_decisions", "user_id")
    _index("kyc_decisions", "decided_at")

    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _text("application_id", nullable=True),
        _text("entity"),
        _text("entity_id"),
        _text("action"),
        _text("from_state", nullable=True),
        _text("to_state", nullable=True),
        _jsonb("detail", default="'{}'::jsonb"),
        sa.Column("actor", sa.Text(), nullable=False, server_default=sa.text("'pipeline'")),
        _ts("at"),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
    )
    _index("audit_log", "application_id")
    _index("audit_log", "at")

    op.create_table(
        "dead_letters",
        sa.Column("dead_letter_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        _text("application_id", nullable=True),
        _text("landing_uri"),
        _text("stage"),
        _text("error_code"),
        _text("detail"),
        _jsonb("payload", nullable=True),
        _ts("created_at"),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("dead_letter_id", name=op.f("pk_dead_letters")),
    )
    op.create_index(
        op.f("uq_dead_letters_open_application"),
        "dead_letters",
        ["application_id", "stage", "error_code"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND application_id IS NOT NULL"),
    )
    op.create_index(
        op.f("uq_dead_letters_open_landing"),
        "dead_letters",
        ["landing_uri", "stage", "error_code"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND application_id IS NULL"),
    )


def downgrade() -> None:
    """Drop everything upgrade() created (indexes go with their tables)."""
    for table in reversed(TABLES):
        op.drop_table(table)
    bind = op.get_bind()
    for name in reversed(list(ENUMS)):
        pg.ENUM(name=name).drop(bind, checkfirst=False)
