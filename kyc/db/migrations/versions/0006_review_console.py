"""Review console, intake API and the reviewers' feedback loop (issue 13).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 20:00:00

* ``kyc_decisions.source`` ('pipeline' | 'review') and ``reviewed_by``: a reviewer's
  outcome is a new decision version on the same objects, so landing idempotency
  (the unique fingerprint) now holds among the rules' decisions only.
* console accounts and server-side sessions, API keys and Idempotency-Key replays,
  claims, notes, pending four-eyes approvals and the feedback store
  (``review_outcomes``).
* a trigger announcing every new decision and claim change on the ``kyc_review``
  channel (LISTEN/NOTIFY feeds the console's live queue).

Written as the DDL of sql/schema.sql (tests/db/test_schema.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    """
ALTER TABLE kyc_decisions
    ADD COLUMN source text NOT NULL DEFAULT 'pipeline',
    ADD COLUMN reviewed_by text[] NOT NULL DEFAULT '{}'::text[],
    ADD CONSTRAINT ck_kyc_decisions_source_known CHECK (source IN ('pipeline', 'review'))
    """,
    """
DROP INDEX uq_kyc_decisions_application_id_input_fingerprint
    """,
    """
CREATE UNIQUE INDEX uq_kyc_decisions_application_id_input_fingerprint ON kyc_decisions
    (application_id, input_fingerprint)
    WHERE reprocess_of IS NULL AND source = 'pipeline'
    """,
    """

CREATE TABLE console_users (
    console_user_id  uuid        NOT NULL DEFAULT gen_random_uuid(),
    username         text        NOT NULL,
    display_name     text        NOT NULL,
    role             text        NOT NULL,
    password_hash    text,
    oidc_subject     text,
    disabled_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_console_users PRIMARY KEY (console_user_id),
    CONSTRAINT uq_console_users_username UNIQUE (username),
    CONSTRAINT uq_console_users_oidc_subject UNIQUE (oidc_subject),
    CONSTRAINT ck_console_users_role_known
        CHECK (role IN ('viewer', 'reviewer', 'approver', 'admin'))
)
    """,
    """

CREATE TABLE console_sessions (
    token_hash       text        NOT NULL,
    console_user_id  uuid        NOT NULL,
    csrf_token       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT pk_console_sessions PRIMARY KEY (token_hash),
    CONSTRAINT fk_console_sessions_console_user_id_console_users FOREIGN KEY (console_user_id)
        REFERENCES console_users (console_user_id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_console_sessions_console_user_id ON console_sessions (console_user_id)
    """,
    """
CREATE INDEX ix_console_sessions_expires_at ON console_sessions (expires_at)
    """,
    """

CREATE TABLE api_keys (
    api_key_id    uuid        NOT NULL DEFAULT gen_random_uuid(),
    name          text        NOT NULL,
    prefix        text        NOT NULL,
    key_hash      text        NOT NULL,
    scopes        text[]      NOT NULL DEFAULT '{intake}'::text[],
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    CONSTRAINT pk_api_keys PRIMARY KEY (api_key_id),
    CONSTRAINT uq_api_keys_prefix UNIQUE (prefix),
    CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
)
    """,
    """

CREATE TABLE intake_requests (
    api_key_id       uuid        NOT NULL,
    idempotency_key  text        NOT NULL,
    body_sha256      text        NOT NULL,
    application_id   text        NOT NULL,
    status_code      integer     NOT NULL,
    response         jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_intake_requests PRIMARY KEY (api_key_id, idempotency_key),
    CONSTRAINT fk_intake_requests_api_key_id_api_keys FOREIGN KEY (api_key_id)
        REFERENCES api_keys (api_key_id) ON DELETE CASCADE
)
    """,
    """

CREATE TABLE review_assignments (
    application_id   text        NOT NULL,
    console_user_id  uuid        NOT NULL,
    assigned_by      text        NOT NULL,
    assigned_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_review_assignments PRIMARY KEY (application_id),
    CONSTRAINT fk_review_assignments_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_review_assignments_console_user_id_console_users
        FOREIGN KEY (console_user_id)
        REFERENCES console_users (console_user_id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_review_assignments_console_user_id ON review_assignments (console_user_id)
    """,
    """

CREATE TABLE review_notes (
    note_id         bigint      GENERATED ALWAYS AS IDENTITY,
    application_id  text        NOT NULL,
    author          text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_review_notes PRIMARY KEY (note_id),
    CONSTRAINT fk_review_notes_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_review_notes_application_id ON review_notes (application_id)
    """,
    """

CREATE TABLE review_approvals (
    application_id    text        NOT NULL,
    decision_version  integer     NOT NULL,
    approver          text        NOT NULL,
    note              text        NOT NULL DEFAULT '',
    approved_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_review_approvals PRIMARY KEY (application_id, decision_version),
    CONSTRAINT fk_review_approvals_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
)
    """,
    """

CREATE TABLE review_outcomes (
    outcome_id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    application_id          text        NOT NULL,
    reviewed_version        integer     NOT NULL,
    automated_decision      kyc_decision_enum NOT NULL,
    automated_reasons       text[]      NOT NULL,
    outcome                 text        NOT NULL,
    decision_version        integer,
    reviewer_reasons        text[]      NOT NULL DEFAULT '{}'::text[],
    reviewers               text[]      NOT NULL,
    queued_at               timestamptz NOT NULL,
    decided_at              timestamptz NOT NULL DEFAULT now(),
    time_in_queue_seconds   double precision NOT NULL,
    time_to_decide_seconds  double precision,
    CONSTRAINT pk_review_outcomes PRIMARY KEY (outcome_id),
    CONSTRAINT uq_review_outcomes_application_id_reviewed_version
        UNIQUE (application_id, reviewed_version),
    CONSTRAINT ck_review_outcomes_outcome_known
        CHECK (outcome IN ('APPROVED', 'REJECTED', 'RESUBMISSION_REQUESTED', 'ESCALATED')),
    CONSTRAINT fk_review_outcomes_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_review_outcomes_decided_at ON review_outcomes (decided_at)
    """,
    """

-- Live console: every new decision and every claim change is announced on the
-- 'kyc_review' channel (ids only), whoever wrote it.
CREATE FUNCTION kyc_review_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kyc_review', json_build_object(
        'kind', TG_TABLE_NAME,
        'application_id', COALESCE(NEW.application_id, OLD.application_id)
    )::text);
    RETURN NULL;
END
$$
    """,
    """
CREATE TRIGGER kyc_decisions_review_notify AFTER INSERT ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_review_notify()
    """,
    """
CREATE TRIGGER review_assignments_review_notify
    AFTER INSERT OR UPDATE OR DELETE ON review_assignments
    FOR EACH ROW EXECUTE FUNCTION kyc_review_notify()
    """,
)

_DOWNGRADE = (
    "DROP TRIGGER review_assignments_review_notify ON review_assignments",
    "DROP TRIGGER kyc_decisions_review_notify ON kyc_decisions",
    "DROP FUNCTION kyc_review_notify()",
    "DROP TABLE review_outcomes",
    "DROP TABLE review_approvals",
    "DROP TABLE review_notes",
    "DROP TABLE review_assignments",
    "DROP TABLE intake_requests",
    "DROP TABLE api_keys",
    "DROP TABLE console_sessions",
    "DROP TABLE console_users",
    # Review versions repeat a fingerprint: they go before the stricter index returns.
    "DELETE FROM kyc_decisions WHERE source = 'review'",
    "DROP INDEX uq_kyc_decisions_application_id_input_fingerprint",
    "CREATE UNIQUE INDEX uq_kyc_decisions_application_id_input_fingerprint ON kyc_decisions"
    " (application_id, input_fingerprint) WHERE reprocess_of IS NULL",
    "ALTER TABLE kyc_decisions DROP CONSTRAINT ck_kyc_decisions_source_known,"
    " DROP COLUMN reviewed_by, DROP COLUMN source",
)


def upgrade() -> None:
    """Create the console's tables; decisions learn who made them."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop them again (review decision versions are deleted)."""
    for statement in _DOWNGRADE:
        op.execute(statement)
