"""SQLAlchemy models of the KYC schema (the seed ERD plus what the pipeline needs).

The schema itself is owned by the Alembic migrations (``kyc/db/migrations``) and
mirrored as plain DDL in ``sql/schema.sql``; these models describe the same tables
for the repository and are checked against the migrations by
``tests/db/test_schema.py`` (an Alembic autogenerate comparison must find nothing).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Enum labels, in database order. Never rename a label: code and reports use them.
REG_TYPES = ("GMC", "GDC", "NMC", "GPHC", "NONE")
USER_STATUSES = ("PENDING", "VERIFIED", "MANUAL_REVIEW", "REJECTED")
ID_DOC_STATUSES = ("NEW", "OCR_DONE", "FACE_DONE", "QUALITY_DONE", "DECIDED", "ERROR")
KYC_DECISIONS = ("PASS", "MANUAL_REVIEW", "FAIL")
ID_DOC_TYPES = ("driving_licence", "passport", "id_card")

#: Deterministic constraint names, identical to those in sql/schema.sql.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}

# create_type=False: the migrations create the enum types explicitly.
reg_type_enum = pg.ENUM(*REG_TYPES, name="reg_type_enum", create_type=False)
user_status_enum = pg.ENUM(*USER_STATUSES, name="user_status_enum", create_type=False)
id_doc_status_enum = pg.ENUM(*ID_DOC_STATUSES, name="id_doc_status_enum", create_type=False)
kyc_decision_enum = pg.ENUM(*KYC_DECISIONS, name="kyc_decision_enum", create_type=False)
id_doc_type_enum = pg.ENUM(*ID_DOC_TYPES, name="id_doc_type_enum", create_type=False)

UUID_PK_DEFAULT = sa.text("gen_random_uuid()")
NOW = sa.text("now()")


class Base(DeclarativeBase):
    """Declarative base with the project's naming convention and column types."""

    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        uuid.UUID: pg.UUID(as_uuid=True),
        dt.datetime: sa.DateTime(timezone=True),
        dt.date: sa.Date(),
        str: sa.Text(),
        dict[str, Any]: pg.JSONB(),
        list[Any]: pg.JSONB(),
        list[str]: pg.ARRAY(sa.Text()),
    }


def _uuid_pk() -> Mapped[uuid.UUID]:
    # Generated client-side too, so ids are known before the INSERT is flushed.
    return mapped_column(primary_key=True, default=uuid.uuid4, server_default=UUID_PK_DEFAULT)


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(server_default=NOW)


def _updated_at() -> Mapped[dt.datetime]:
    return mapped_column(server_default=NOW, onupdate=sa.func.now())


def _fk(target: str) -> Any:
    return sa.ForeignKey(target, ondelete="CASCADE")


class User(Base):
    """A person being verified."""

    __tablename__ = "users"

    user_id: Mapped[uuid.UUID] = _uuid_pk()
    email: Mapped[str] = mapped_column(index=True)
    first_name: Mapped[str]
    middle_name: Mapped[str | None]
    last_name: Mapped[str]
    date_of_birth: Mapped[dt.date]
    address: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(user_status_enum, server_default=sa.text("'PENDING'"))
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()
    #: When ``kyc erase`` redacted this person (migration 0009).
    erased_at: Mapped[dt.datetime | None]


class ApplicationRow(Base):
    """One landing folder ``incoming/<application_id>/``; re-landing updates it."""

    __tablename__ = "applications"
    __table_args__ = (sa.CheckConstraint("application_id <> ''", name="application_id_not_empty"),)

    application_id: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    landing_uri: Mapped[str]
    input_fingerprint: Mapped[str]
    form: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)
    updated_at: Mapped[dt.datetime] = _updated_at()
    #: When erasure or retention deleted the objects and embeddings (migration 0009).
    objects_deleted_at: Mapped[dt.datetime | None]


class IdDocument(Base):
    """An identity document landed with an application (front, optional back)."""

    __tablename__ = "id_documents"
    __table_args__ = (
        sa.CheckConstraint("(back_key IS NULL) = (back_etag IS NULL)", name="back_key_etag_pair"),
    )

    id_document_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    doc_type: Mapped[str] = mapped_column(id_doc_type_enum)
    document_number: Mapped[str]
    issuing_country: Mapped[str]
    issuing_region: Mapped[str | None]
    expiry_date: Mapped[dt.date]
    front_key: Mapped[str]
    front_etag: Mapped[str]
    back_key: Mapped[str | None]
    back_etag: Mapped[str | None]
    status: Mapped[str] = mapped_column(id_doc_status_enum, server_default=sa.text("'NEW'"))
    created_at: Mapped[dt.datetime] = _created_at()
    updated_at: Mapped[dt.datetime] = _updated_at()


class Selfie(Base):
    """The selfie landed with an application."""

    __tablename__ = "selfies"

    selfie_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    object_key: Mapped[str]
    etag: Mapped[str]
    created_at: Mapped[dt.datetime] = _created_at()


class DocScan(Base):
    """What a DocumentReader read from an identity document."""

    __tablename__ = "doc_scans"
    __table_args__ = (
        sa.CheckConstraint(
            "portrait_box IS NULL OR cardinality(portrait_box) = 4", name="portrait_box_four"
        ),
    )

    doc_scan_id: Mapped[uuid.UUID] = _uuid_pk()
    id_document_id: Mapped[uuid.UUID] = mapped_column(
        _fk("id_documents.id_document_id"), index=True
    )
    engine: Mapped[str]
    engine_version: Mapped[str]
    fields: Mapped[dict[str, Any]]
    findings: Mapped[list[Any]]
    timings_ms: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = _created_at()
    #: (left, top, right, bottom) of the portrait crop on the flattened front (0010);
    #: the review console crops it again from the landed image.
    portrait_box: Mapped[list[int] | None] = mapped_column(pg.ARRAY(sa.Integer()))


class FaceCheck(Base):
    """Selfie vs document portrait on Rekognition CompareFaces' 0-100 scale."""

    __tablename__ = "face_checks"
    __table_args__ = (
        sa.CheckConstraint("similarity >= 0 AND similarity <= 100", name="similarity_range"),
    )

    face_check_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    selfie_id: Mapped[uuid.UUID] = mapped_column(_fk("selfies.selfie_id"), index=True)
    id_document_id: Mapped[uuid.UUID] = mapped_column(
        _fk("id_documents.id_document_id"), index=True
    )
    engine: Mapped[str]
    engine_version: Mapped[str]
    similarity: Mapped[Decimal | None] = mapped_column(sa.Numeric(6, 3))
    distance: Mapped[float | None] = mapped_column(sa.Double())
    source_confidence: Mapped[float | None] = mapped_column(sa.Double())
    target_confidence: Mapped[float | None] = mapped_column(sa.Double())
    matched: Mapped[bool | None]
    findings: Mapped[list[Any]]
    timings_ms: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = _created_at()


class RegCheck(Base):
    """A professional register look-up (GMC, GDC, NMC, GPhC), as in the seed ERD."""

    __tablename__ = "reg_checks"

    reg_check_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    reg_type: Mapped[str] = mapped_column(reg_type_enum)
    reg_number: Mapped[str | None]
    status: Mapped[str]
    snapshot_date: Mapped[dt.date | None]
    matched_name: Mapped[str | None]
    matched_status: Mapped[str | None]
    raw_response_json: Mapped[dict[str, Any] | None]
    checked_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


class QualityCheck(Base):
    """Outcome of the Great Expectations data-quality gate."""

    __tablename__ = "quality_checks"
    __table_args__ = (sa.CheckConstraint("evaluated >= 0", name="evaluated_not_negative"),)

    quality_check_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    suite: Mapped[str]
    success: Mapped[bool]
    failed_expectations: Mapped[list[str]] = mapped_column(server_default=sa.text("'{}'::text[]"))
    evaluated: Mapped[int]
    created_at: Mapped[dt.datetime] = _created_at()


class KycDecision(Base):
    """One decision on an application; versions count up per application.

    The unique ``(application_id, input_fingerprint)`` among decisions made on
    landed objects makes re-landing the same objects idempotent; a reprocessed
    decision (``reprocess_of`` = the version it re-ran) deliberately repeats a
    fingerprint.
    """

    __tablename__ = "kyc_decisions"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "version"),
        sa.Index(
            "uq_kyc_decisions_application_id_input_fingerprint",
            "application_id",
            "input_fingerprint",
            unique=True,
            postgresql_where=sa.text("reprocess_of IS NULL AND source = 'pipeline'"),
        ),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.CheckConstraint("source IN ('pipeline', 'review')", name="source_known"),
        sa.CheckConstraint(
            "reprocess_of IS NULL OR (reprocess_of >= 1 AND reprocess_of < version)",
            name="reprocess_of_earlier",
        ),
    )

    decision_id: Mapped[uuid.UUID] = _uuid_pk()
    # No separate index: the unique constraints above lead with application_id.
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"))
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    version: Mapped[int]
    decision: Mapped[str] = mapped_column(kyc_decision_enum)
    reasons: Mapped[list[str]]
    findings: Mapped[list[Any]]
    scores: Mapped[dict[str, Any]]
    engines: Mapped[dict[str, Any]]
    input_fingerprint: Mapped[str]
    decided_at: Mapped[dt.datetime] = mapped_column(server_default=NOW, index=True)
    #: The version this decision re-ran (``kyc reprocess``); None: decided on landing.
    reprocess_of: Mapped[int | None]
    #: Earlier users whose face matches under another identity (migration 0002).
    duplicate_of: Mapped[list[Any]] = mapped_column(server_default=sa.text("'[]'::jsonb"))
    #: Who decided: the rules ("pipeline") or reviewers in the console ("review").
    source: Mapped[str] = mapped_column(server_default=sa.text("'pipeline'"))
    #: The console users whose review made this version (two under four-eyes).
    reviewed_by: Mapped[list[str]] = mapped_column(server_default=sa.text("'{}'::text[]"))


class AuditLog(Base):
    """Append-only trail of state changes (ids and states only, never PII)."""

    __tablename__ = "audit_log"
    __table_args__ = (sa.UniqueConstraint("chain_seq"),)

    audit_id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    application_id: Mapped[str | None] = mapped_column(index=True)
    entity: Mapped[str]
    entity_id: Mapped[str]
    action: Mapped[str]
    from_state: Mapped[str | None]
    to_state: Mapped[str | None]
    detail: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    actor: Mapped[str] = mapped_column(server_default=sa.text("'pipeline'"))
    at: Mapped[dt.datetime] = mapped_column(server_default=NOW, index=True)
    # Hash chain (migration 0007): always set by the audit_log_chain trigger.
    chain_seq: Mapped[int] = mapped_column(sa.BigInteger, server_default=sa.FetchedValue())
    prev_hash: Mapped[str] = mapped_column(server_default=sa.FetchedValue())
    row_hash: Mapped[str] = mapped_column(server_default=sa.FetchedValue())


class DeadLetter(Base):
    """An application (or landing folder) that could not be processed.

    Two partial unique indexes keep one unresolved row per problem: keyed on the
    application id when it is known, on the landing URI when it is not.
    """

    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.Index(
            "uq_dead_letters_open_application",
            "application_id",
            "stage",
            "error_code",
            unique=True,
            postgresql_where=sa.text("resolved_at IS NULL AND application_id IS NOT NULL"),
        ),
        sa.Index(
            "uq_dead_letters_open_landing",
            "landing_uri",
            "stage",
            "error_code",
            unique=True,
            postgresql_where=sa.text("resolved_at IS NULL AND application_id IS NULL"),
        ),
    )

    dead_letter_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.Identity(always=True), primary_key=True
    )
    application_id: Mapped[str | None]
    landing_uri: Mapped[str]
    stage: Mapped[str]
    error_code: Mapped[str]
    detail: Mapped[str]
    payload: Mapped[dict[str, Any] | None]
    created_at: Mapped[dt.datetime] = _created_at()
    resolved_at: Mapped[dt.datetime | None]


# --- notifications (issue 6) --------------------------------------------------------------


class NotificationDelivery(Base):
    """One delivery attempt of a notification (webhook, SNS, email).

    Ids, codes and the redacted target only: never a payload, address or secret.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.CheckConstraint("attempt >= 1", name="attempt_positive"),
        sa.CheckConstraint("status IN ('DELIVERED', 'RETRYING', 'FAILED')", name="status_known"),
        sa.CheckConstraint("channel IN ('webhook', 'sns', 'email')", name="channel_known"),
    )

    delivery_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.Identity(always=True), primary_key=True
    )
    message_id: Mapped[str] = mapped_column(index=True)
    channel: Mapped[str]
    event: Mapped[str]
    application_id: Mapped[str | None] = mapped_column(index=True)
    target: Mapped[str]
    attempt: Mapped[int]
    status: Mapped[str]
    status_code: Mapped[int | None]
    latency_ms: Mapped[float] = mapped_column(sa.Double())
    error: Mapped[str | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=NOW, index=True)


class ReminderSent(Base):
    """An expiry reminder sent for one document at one threshold (never sent twice)."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "id_document_id", "threshold_days"),
        sa.CheckConstraint("threshold_days > 0", name="threshold_positive"),
    )

    reminder_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.Identity(always=True), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"))
    id_document_id: Mapped[uuid.UUID] = mapped_column(
        _fk("id_documents.id_document_id"), index=True
    )
    threshold_days: Mapped[int]
    expiry_date: Mapped[dt.date]
    days_left: Mapped[int]
    channels: Mapped[list[str]]
    message_id: Mapped[str]
    sent_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


#: Indexes that exist only on some servers (migration 0002 builds the pgvector HNSW
#: index only where the extension is available): never autogenerated or compared.
CONDITIONAL_INDEXES = frozenset({"ix_face_embeddings_embedding_hnsw"})


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic ``include_object`` hook: skip the server-dependent indexes."""
    return not (type_ == "index" and name in CONDITIONAL_INDEXES)


class LivenessCheck(Base):
    """One liveness method run on an application; ``passed`` NULL = not assessed."""

    __tablename__ = "liveness_checks"
    __table_args__ = (
        sa.CheckConstraint("confidence >= 0 AND confidence <= 100", name="confidence_range"),
    )

    liveness_check_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    method: Mapped[str]
    engine: Mapped[str]
    engine_version: Mapped[str]
    passed: Mapped[bool | None]
    confidence: Mapped[float | None] = mapped_column(sa.Double())
    findings: Mapped[list[Any]]
    details: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    timings_ms: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = _created_at()


class FaceEmbedding(Base):
    """A verified selfie's face embedding, for the duplicate-identity search.

    Where pgvector exists, migration 0002 also builds the HNSW index
    ``ix_face_embeddings_embedding_hnsw`` on ``(embedding::vector(128))``; it is not
    declared here because it exists only on such servers (see kyc.db.biometrics).
    """

    __tablename__ = "face_embeddings"
    __table_args__ = (
        sa.UniqueConstraint("selfie_id"),
        sa.CheckConstraint("cardinality(embedding) = 128", name="embedding_128"),
    )

    face_embedding_id: Mapped[int] = mapped_column(
        sa.BigInteger, sa.Identity(always=True), primary_key=True
    )
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(_fk("users.user_id"), index=True)
    selfie_id: Mapped[uuid.UUID] = mapped_column(_fk("selfies.selfie_id"))
    engine: Mapped[str]
    embedding: Mapped[list[float]] = mapped_column(pg.ARRAY(sa.REAL()))
    created_at: Mapped[dt.datetime] = _created_at()


# --- professional registers and licence validation (migration 0003) -------------------


class RegisterSnapshotEntry(Base):
    """One entry of a loaded register extract (read by the snapshot RegisterClient)."""

    __tablename__ = "register_snapshot"

    reg_type: Mapped[str] = mapped_column(reg_type_enum, primary_key=True)
    reg_number: Mapped[str] = mapped_column(primary_key=True)
    full_name: Mapped[str]
    status: Mapped[str]
    conditions: Mapped[list[str]] = mapped_column(server_default=sa.text("'{}'::text[]"))
    snapshot_date: Mapped[dt.date]
    source_file: Mapped[str]
    loaded_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


class RegisterCacheEntry(Base):
    """A register answer reused until ``expires_at``; or an Apify run under way."""

    __tablename__ = "register_cache"

    reg_type: Mapped[str] = mapped_column(reg_type_enum, primary_key=True)
    reg_number: Mapped[str] = mapped_column(primary_key=True)
    result_json: Mapped[dict[str, Any] | None]
    source: Mapped[str]
    fetched_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)
    pending_run_id: Mapped[str | None]


class LicenceCheck(Base):
    """A driver's licence validation (local rules or a DLDV-style service)."""

    __tablename__ = "licence_checks"

    licence_check_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    engine: Mapped[str]
    verified: Mapped[bool | None]
    field_matches: Mapped[dict[str, Any]] = mapped_column(server_default=sa.text("'{}'::jsonb"))
    findings: Mapped[list[Any]] = mapped_column(server_default=sa.text("'[]'::jsonb"))
    raw_response_json: Mapped[dict[str, Any] | None]
    checked_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


__all__ = [
    "CONDITIONAL_INDEXES",
    "ID_DOC_STATUSES",
    "ID_DOC_TYPES",
    "KYC_DECISIONS",
    "REG_TYPES",
    "USER_STATUSES",
    "ApplicationRow",
    "AuditLog",
    "Base",
    "DeadLetter",
    "DocScan",
    "FaceCheck",
    "FaceEmbedding",
    "IdDocument",
    "KycDecision",
    "LicenceCheck",
    "LivenessCheck",
    "NotificationDelivery",
    "ProcessingClaim",
    "QualityCheck",
    "RegCheck",
    "RegisterCacheEntry",
    "RegisterSnapshotEntry",
    "ReminderSent",
    "Selfie",
    "User",
    "include_object",
]


# --------------------------------------------------------------------------------------
# Review console, intake API and the feedback store (migration 0006)
# --------------------------------------------------------------------------------------

#: Console roles, least to most privileged (each includes the ones before it).
CONSOLE_ROLES = ("viewer", "reviewer", "approver", "admin")
#: What a reviewer can make of a MANUAL_REVIEW case.
REVIEW_OUTCOMES = ("APPROVED", "REJECTED", "RESUBMISSION_REQUESTED", "ESCALATED")


class ConsoleUser(Base):
    """A console account: a local password (argon2 hash) or an OpenID Connect subject."""

    __tablename__ = "console_users"
    __table_args__ = (
        sa.UniqueConstraint("username"),
        sa.UniqueConstraint("oidc_subject"),
        sa.CheckConstraint(
            "role IN ('viewer', 'reviewer', 'approver', 'admin')", name="role_known"
        ),
    )

    console_user_id: Mapped[uuid.UUID] = _uuid_pk()
    username: Mapped[str]
    display_name: Mapped[str]
    role: Mapped[str]
    password_hash: Mapped[str | None]
    oidc_subject: Mapped[str | None]
    disabled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = _created_at()


class ConsoleSession(Base):
    """A logged-in browser: the cookie carries a random token, this row its SHA-256."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    console_user_id: Mapped[uuid.UUID] = mapped_column(
        _fk("console_users.console_user_id"), index=True
    )
    csrf_token: Mapped[str]
    created_at: Mapped[dt.datetime] = _created_at()
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


class ApiKey(Base):
    """A client system's intake key (shown once; stored as its SHA-256)."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.UniqueConstraint("prefix"), sa.UniqueConstraint("key_hash"))

    api_key_id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str]
    prefix: Mapped[str]
    key_hash: Mapped[str]
    scopes: Mapped[list[str]] = mapped_column(server_default=sa.text("'{intake}'::text[]"))
    created_at: Mapped[dt.datetime] = _created_at()
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class IntakeRequest(Base):
    """An upload made with an Idempotency-Key: a replay gets this response again."""

    __tablename__ = "intake_requests"

    api_key_id: Mapped[uuid.UUID] = mapped_column(_fk("api_keys.api_key_id"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(primary_key=True)
    body_sha256: Mapped[str]
    application_id: Mapped[str]
    status_code: Mapped[int]
    response: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = _created_at()


class IntakeUpload(Base):
    """An application uploaded through the intake API, and the key that sent it.

    No foreign key to ``applications``: a presigned upload reserves its id before
    any object (and so any applications row) exists.
    """

    __tablename__ = "intake_uploads"
    __table_args__ = (
        sa.CheckConstraint("method IN ('multipart', 'presigned')", name="method_known"),
    )

    application_id: Mapped[str] = mapped_column(primary_key=True)
    api_key_id: Mapped[uuid.UUID] = mapped_column(_fk("api_keys.api_key_id"), index=True)
    #: ``multipart`` (POST /v1/applications) or ``presigned`` (POST /v1/uploads)
    method: Mapped[str]
    received_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


class ReviewAssignment(Base):
    """Who works a MANUAL_REVIEW case now."""

    __tablename__ = "review_assignments"

    application_id: Mapped[str] = mapped_column(
        _fk("applications.application_id"), primary_key=True
    )
    console_user_id: Mapped[uuid.UUID] = mapped_column(
        _fk("console_users.console_user_id"), index=True
    )
    assigned_by: Mapped[str]
    assigned_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


class ReviewQueueRow(Base):
    """An open case (latest decision MANUAL_REVIEW), kept by a trigger (migration 0012).

    Written only by the ``kyc_decisions_review_queue`` trigger: code reads it.
    """

    __tablename__ = "review_queue"
    __table_args__ = (sa.Index("ix_review_queue_queued_at", "queued_at", "application_id"),)

    application_id: Mapped[str] = mapped_column(
        _fk("applications.application_id"), primary_key=True
    )
    user_id: Mapped[uuid.UUID]
    version: Mapped[int]
    reasons: Mapped[list[str]]
    #: When the rules' latest decision sent it to review, and why.
    queued_at: Mapped[dt.datetime]
    automated: Mapped[list[str]]


class ReviewNote(Base):
    """A reviewer's note on a case."""

    __tablename__ = "review_notes"

    note_id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(always=True), primary_key=True)
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"), index=True)
    author: Mapped[str]
    body: Mapped[str]
    created_at: Mapped[dt.datetime] = _created_at()


class ReviewApproval(Base):
    """A first approval waiting for a second approver (four-eyes)."""

    __tablename__ = "review_approvals"

    application_id: Mapped[str] = mapped_column(
        _fk("applications.application_id"), primary_key=True
    )
    decision_version: Mapped[int] = mapped_column(primary_key=True)
    approver: Mapped[str]
    note: Mapped[str] = mapped_column(server_default=sa.text("''"))
    approved_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)


class ReviewOutcome(Base):
    """The feedback store: what reviewers made of one automated decision."""

    __tablename__ = "review_outcomes"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "reviewed_version"),
        sa.CheckConstraint(
            "outcome IN ('APPROVED', 'REJECTED', 'RESUBMISSION_REQUESTED', 'ESCALATED')",
            name="outcome_known",
        ),
    )

    outcome_id: Mapped[uuid.UUID] = _uuid_pk()
    application_id: Mapped[str] = mapped_column(_fk("applications.application_id"))
    reviewed_version: Mapped[int]
    automated_decision: Mapped[str] = mapped_column(kyc_decision_enum)
    automated_reasons: Mapped[list[str]]
    outcome: Mapped[str]
    decision_version: Mapped[int | None]
    reviewer_reasons: Mapped[list[str]] = mapped_column(server_default=sa.text("'{}'::text[]"))
    reviewers: Mapped[list[str]]
    queued_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime] = mapped_column(server_default=NOW, index=True)
    time_in_queue_seconds: Mapped[float] = mapped_column(sa.Double())
    time_to_decide_seconds: Mapped[float | None] = mapped_column(sa.Double())


class OutboxMessage(Base):
    """A decision notification waiting to be sent (transactional outbox, migration 0008)."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        sa.Index(
            "ix_notification_outbox_pending",
            "next_attempt_at",
            postgresql_where=sa.text("sent_at IS NULL"),
        ),
    )

    message_id: Mapped[str] = mapped_column(primary_key=True)
    event: Mapped[str]
    application_id: Mapped[str] = mapped_column(index=True)
    version: Mapped[int]
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = _created_at()
    attempts: Mapped[int] = mapped_column(server_default=sa.text("0"))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)
    #: channels that took the message (a retry goes to the others only)
    delivered: Mapped[list[str]] = mapped_column(server_default=sa.text("'{}'::text[]"))
    sent_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None]


class ProcessingClaim(Base):
    """A worker's lease on one application's objects (migration 0013; kyc/db/claims.py)."""

    __tablename__ = "processing_claims"

    application_id: Mapped[str] = mapped_column(primary_key=True)
    input_fingerprint: Mapped[str] = mapped_column(primary_key=True)
    #: ``host:pid:flow-run id`` of the worker holding it
    owner: Mapped[str] = mapped_column(index=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(server_default=NOW)
    lease_until: Mapped[dt.datetime] = mapped_column(index=True)
    #: 1 for the first claim, +1 for every takeover of an expired lease
    attempts: Mapped[int] = mapped_column(server_default=sa.text("1"))
