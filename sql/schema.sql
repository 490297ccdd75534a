-- KYC onboarding pipeline: PostgreSQL schema (plain DDL for DBAs).
--
-- The Alembic migrations in kyc/db/migrations are what the application runs
-- (`kyc db upgrade`); this file states the same schema as plain SQL and
-- tests/db/test_schema.py proves the two produce identical catalogs (tables,
-- columns, enums, constraints, indexes). Change both together.
--
-- Requires PostgreSQL >= 13 (gen_random_uuid() is built in; no extension needed).
--
-- Naming: pk_<table>, fk_<table>_<column>_<referred table>, uq_<table>_<columns>,
-- ix_<table>_<columns>, ck_<table>_<name>.
--
-- Deleting a user cascades to everything recorded about them (right to erasure);
-- audit_log and dead_letters carry no foreign keys and no PII, so the trail
-- survives an erasure.

BEGIN;

-- ---------------------------------------------------------------------------
-- Enums (labels are stable: code, reports and reviewers depend on them)
-- ---------------------------------------------------------------------------

CREATE TYPE reg_type_enum AS ENUM ('GMC', 'GDC', 'NMC', 'GPHC', 'NONE');

CREATE TYPE user_status_enum AS ENUM ('PENDING', 'VERIFIED', 'MANUAL_REVIEW', 'REJECTED');

-- Lifecycle of one identity document: NEW -> OCR_DONE -> FACE_DONE ->
-- QUALITY_DONE -> DECIDED, or ERROR.
CREATE TYPE id_doc_status_enum AS ENUM (
    'NEW', 'OCR_DONE', 'FACE_DONE', 'QUALITY_DONE', 'DECIDED', 'ERROR'
);

CREATE TYPE kyc_decision_enum AS ENUM ('PASS', 'MANUAL_REVIEW', 'FAIL');

CREATE TYPE id_doc_type_enum AS ENUM ('driving_licence', 'passport', 'id_card');

-- ---------------------------------------------------------------------------
-- People and their applications
-- ---------------------------------------------------------------------------

CREATE TABLE users (
    user_id        uuid             NOT NULL DEFAULT gen_random_uuid(),
    email          text             NOT NULL,
    first_name     text             NOT NULL,
    middle_name    text,
    last_name      text             NOT NULL,
    date_of_birth  date             NOT NULL,
    address        jsonb            NOT NULL,
    status         user_status_enum NOT NULL DEFAULT 'PENDING',
    created_at     timestamptz      NOT NULL DEFAULT now(),
    updated_at     timestamptz      NOT NULL DEFAULT now(),
    -- when `kyc erase` redacted this person (0009); the row anchors the decision skeleton
    erased_at      timestamptz,
    CONSTRAINT pk_users PRIMARY KEY (user_id)
);
CREATE INDEX ix_users_email ON users (email);

-- One row per landing folder incoming/<application_id>/; re-landing updates it.
CREATE TABLE applications (
    application_id     text        NOT NULL,
    user_id            uuid        NOT NULL,
    landing_uri        text        NOT NULL,
    -- Fingerprint (object ETags) of the latest landing of this application.
    input_fingerprint  text        NOT NULL,
    -- application.json as validated.
    form               jsonb       NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- when erasure or retention deleted the objects and face embeddings (0009)
    objects_deleted_at timestamptz,
    CONSTRAINT pk_applications PRIMARY KEY (application_id),
    CONSTRAINT ck_applications_application_id_not_empty CHECK (application_id <> ''),
    CONSTRAINT fk_applications_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX ix_applications_user_id ON applications (user_id);

CREATE TABLE id_documents (
    id_document_id   uuid               NOT NULL DEFAULT gen_random_uuid(),
    application_id   text               NOT NULL,
    user_id          uuid               NOT NULL,
    doc_type         id_doc_type_enum   NOT NULL,
    document_number  text               NOT NULL,
    issuing_country  text               NOT NULL,
    issuing_region   text,
    expiry_date      date               NOT NULL,
    front_key        text               NOT NULL,
    front_etag       text               NOT NULL,
    back_key         text,
    back_etag        text,
    status           id_doc_status_enum NOT NULL DEFAULT 'NEW',
    created_at       timestamptz        NOT NULL DEFAULT now(),
    updated_at       timestamptz        NOT NULL DEFAULT now(),
    CONSTRAINT pk_id_documents PRIMARY KEY (id_document_id),
    -- A back side is either fully identified (key and ETag) or absent.
    CONSTRAINT ck_id_documents_back_key_etag_pair
        CHECK ((back_key IS NULL) = (back_etag IS NULL)),
    CONSTRAINT fk_id_documents_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_id_documents_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX ix_id_documents_application_id ON id_documents (application_id);
CREATE INDEX ix_id_documents_user_id ON id_documents (user_id);

CREATE TABLE selfies (
    selfie_id       uuid        NOT NULL DEFAULT gen_random_uuid(),
    application_id  text        NOT NULL,
    user_id         uuid        NOT NULL,
    object_key      text        NOT NULL,
    etag            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_selfies PRIMARY KEY (selfie_id),
    CONSTRAINT fk_selfies_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_selfies_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX ix_selfies_application_id ON selfies (application_id);
CREATE INDEX ix_selfies_user_id ON selfies (user_id);

-- ---------------------------------------------------------------------------
-- Evidence gathered by the pipeline
-- ---------------------------------------------------------------------------

-- What a DocumentReader read (Textract AnalyzeID-shaped fields).
CREATE TABLE doc_scans (
    doc_scan_id     uuid        NOT NULL DEFAULT gen_random_uuid(),
    id_document_id  uuid        NOT NULL,
    engine          text        NOT NULL,
    engine_version  text        NOT NULL,
    fields          jsonb       NOT NULL,
    findings        jsonb       NOT NULL,
    timings_ms      jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- (left, top, right, bottom) of the portrait crop on the flattened front (0010)
    portrait_box    integer[],
    CONSTRAINT pk_doc_scans PRIMARY KEY (doc_scan_id),
    CONSTRAINT ck_doc_scans_portrait_box_four
        CHECK (portrait_box IS NULL OR cardinality(portrait_box) = 4),
    CONSTRAINT fk_doc_scans_id_document_id_id_documents FOREIGN KEY (id_document_id)
        REFERENCES id_documents (id_document_id) ON DELETE CASCADE
);
CREATE INDEX ix_doc_scans_id_document_id ON doc_scans (id_document_id);

-- Selfie vs document portrait, on Rekognition CompareFaces' 0-100 scale.
CREATE TABLE face_checks (
    face_check_id      uuid             NOT NULL DEFAULT gen_random_uuid(),
    application_id     text             NOT NULL,
    selfie_id          uuid             NOT NULL,
    id_document_id     uuid             NOT NULL,
    engine             text             NOT NULL,
    engine_version     text             NOT NULL,
    similarity         numeric(6, 3),
    distance           double precision,
    source_confidence  double precision,
    target_confidence  double precision,
    matched            boolean,
    findings           jsonb            NOT NULL,
    timings_ms         jsonb            NOT NULL DEFAULT '{}'::jsonb,
    created_at         timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT pk_face_checks PRIMARY KEY (face_check_id),
    CONSTRAINT ck_face_checks_similarity_range CHECK (similarity >= 0 AND similarity <= 100),
    CONSTRAINT fk_face_checks_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_face_checks_selfie_id_selfies FOREIGN KEY (selfie_id)
        REFERENCES selfies (selfie_id) ON DELETE CASCADE,
    CONSTRAINT fk_face_checks_id_document_id_id_documents FOREIGN KEY (id_document_id)
        REFERENCES id_documents (id_document_id) ON DELETE CASCADE
);
CREATE INDEX ix_face_checks_application_id ON face_checks (application_id);
CREATE INDEX ix_face_checks_selfie_id ON face_checks (selfie_id);
CREATE INDEX ix_face_checks_id_document_id ON face_checks (id_document_id);

-- Professional register look-ups (GMC, GDC, NMC, GPhC), as in the seed ERD.
CREATE TABLE reg_checks (
    reg_check_id       uuid          NOT NULL DEFAULT gen_random_uuid(),
    application_id     text          NOT NULL,
    user_id            uuid          NOT NULL,
    reg_type           reg_type_enum NOT NULL,
    reg_number         text,
    -- NOT_RUN, NOT_REQUIRED, FOUND, NOT_FOUND, UNAVAILABLE, ...
    status             text          NOT NULL,
    snapshot_date      date,
    matched_name       text,
    matched_status     text,
    raw_response_json  jsonb,
    checked_at         timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT pk_reg_checks PRIMARY KEY (reg_check_id),
    CONSTRAINT fk_reg_checks_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_reg_checks_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX ix_reg_checks_application_id ON reg_checks (application_id);
CREATE INDEX ix_reg_checks_user_id ON reg_checks (user_id);

-- Great Expectations data-quality gate results.
CREATE TABLE quality_checks (
    quality_check_id     uuid        NOT NULL DEFAULT gen_random_uuid(),
    application_id       text        NOT NULL,
    suite                text        NOT NULL,
    success              boolean     NOT NULL,
    failed_expectations  text[]      NOT NULL DEFAULT '{}'::text[],
    evaluated            integer     NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_quality_checks PRIMARY KEY (quality_check_id),
    CONSTRAINT ck_quality_checks_evaluated_not_negative CHECK (evaluated >= 0),
    CONSTRAINT fk_quality_checks_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);
CREATE INDEX ix_quality_checks_application_id ON quality_checks (application_id);

-- ---------------------------------------------------------------------------
-- Decisions
-- ---------------------------------------------------------------------------

-- Every decision ever made, versioned per application. The unique
-- (application_id, input_fingerprint) is what makes re-landing the same
-- objects idempotent: the same inputs can never be decided twice.
CREATE TABLE kyc_decisions (
    decision_id        uuid              NOT NULL DEFAULT gen_random_uuid(),
    application_id     text              NOT NULL,
    user_id            uuid              NOT NULL,
    version            integer           NOT NULL,
    decision           kyc_decision_enum NOT NULL,
    reasons            text[]            NOT NULL,
    findings           jsonb             NOT NULL,
    scores             jsonb             NOT NULL,
    engines            jsonb             NOT NULL,
    input_fingerprint  text              NOT NULL,
    decided_at         timestamptz       NOT NULL DEFAULT now(),
    -- earlier users whose face matches under another identity (DUPLICATE_IDENTITY)
    duplicate_of       jsonb             NOT NULL DEFAULT '[]'::jsonb,
    -- the version a reprocessed decision re-ran (kyc reprocess); NULL: decided on landing
    reprocess_of       integer,
    -- who decided: the rules ('pipeline') or reviewers in the console ('review', 0006)
    source             text              NOT NULL DEFAULT 'pipeline',
    -- the console users whose review made this version (four-eyes: two)
    reviewed_by        text[]            NOT NULL DEFAULT '{}'::text[],
    CONSTRAINT pk_kyc_decisions PRIMARY KEY (decision_id),
    CONSTRAINT uq_kyc_decisions_application_id_version UNIQUE (application_id, version),
    CONSTRAINT ck_kyc_decisions_version_positive CHECK (version >= 1),
    CONSTRAINT ck_kyc_decisions_reprocess_of_earlier
        CHECK (reprocess_of IS NULL OR (reprocess_of >= 1 AND reprocess_of < version)),
    CONSTRAINT ck_kyc_decisions_source_known CHECK (source IN ('pipeline', 'review')),
    CONSTRAINT fk_kyc_decisions_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_kyc_decisions_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE
);
-- application_id lookups use the unique indexes above (leading column).
CREATE INDEX ix_kyc_decisions_user_id ON kyc_decisions (user_id);
CREATE INDEX ix_kyc_decisions_decided_at ON kyc_decisions (decided_at);
-- Re-landing the same objects is idempotent; reprocessing and reviews deliberately
-- repeat them.
CREATE UNIQUE INDEX uq_kyc_decisions_application_id_input_fingerprint ON kyc_decisions
    (application_id, input_fingerprint)
    WHERE reprocess_of IS NULL AND source = 'pipeline';

-- ---------------------------------------------------------------------------
-- Operations: audit trail and dead letters (no foreign keys, no PII)
-- ---------------------------------------------------------------------------

CREATE TABLE audit_log (
    audit_id        bigint      GENERATED ALWAYS AS IDENTITY,
    application_id  text,
    entity          text        NOT NULL,
    entity_id       text        NOT NULL,
    action          text        NOT NULL,
    from_state      text,
    to_state        text,
    detail          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    actor           text        NOT NULL DEFAULT 'pipeline',
    at              timestamptz NOT NULL DEFAULT now(),
    -- hash chain (0007): set by the audit_log_chain trigger, checked by `kyc audit verify`
    chain_seq       bigint      NOT NULL,
    prev_hash       text        NOT NULL,
    row_hash        text        NOT NULL,
    CONSTRAINT pk_audit_log PRIMARY KEY (audit_id),
    CONSTRAINT uq_audit_log_chain_seq UNIQUE (chain_seq)
);
CREATE INDEX ix_audit_log_application_id ON audit_log (application_id);
CREATE INDEX ix_audit_log_at ON audit_log (at);

-- Applications (or landing folders) that could not be processed.
CREATE TABLE dead_letters (
    dead_letter_id  bigint      GENERATED ALWAYS AS IDENTITY,
    application_id  text,
    landing_uri     text        NOT NULL,
    stage           text        NOT NULL,
    error_code      text        NOT NULL,
    detail          text        NOT NULL,
    payload         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    CONSTRAINT pk_dead_letters PRIMARY KEY (dead_letter_id)
);
-- The same unresolved problem is recorded once (a repeat refreshes the row).
-- Without an application id (e.g. an unparseable folder) the landing URI is the key.
CREATE UNIQUE INDEX uq_dead_letters_open_application ON dead_letters
    (application_id, stage, error_code)
    WHERE resolved_at IS NULL AND application_id IS NOT NULL;
CREATE UNIQUE INDEX uq_dead_letters_open_landing ON dead_letters
    (landing_uri, stage, error_code)
    WHERE resolved_at IS NULL AND application_id IS NULL;

-- ---------------------------------------------------------------------------
-- 0002: liveness checks, verified face embeddings, duplicate identities
-- ---------------------------------------------------------------------------

-- One row per liveness method run on an application (challenge, replay,
-- aws-face-liveness); passed NULL = not assessed.
CREATE TABLE liveness_checks (
    liveness_check_id uuid        NOT NULL DEFAULT gen_random_uuid(),
    application_id    text        NOT NULL,
    method            text        NOT NULL,
    engine            text        NOT NULL,
    engine_version    text        NOT NULL,
    passed            boolean,
    confidence        double precision,
    findings          jsonb       NOT NULL,
    details           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    timings_ms        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_liveness_checks PRIMARY KEY (liveness_check_id),
    CONSTRAINT ck_liveness_checks_confidence_range CHECK (confidence >= 0 AND confidence <= 100),
    CONSTRAINT fk_liveness_checks_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);
CREATE INDEX ix_liveness_checks_application_id ON liveness_checks (application_id);

-- The embedding of every selfie verified against its document (biometric data:
-- erased with its user). The identity column orders enrolments: an applicant is
-- compared with faces enrolled before their own first one.
CREATE TABLE face_embeddings (
    face_embedding_id bigint      GENERATED ALWAYS AS IDENTITY,
    application_id    text        NOT NULL,
    user_id           uuid        NOT NULL,
    selfie_id         uuid        NOT NULL,
    engine            text        NOT NULL,
    embedding         real[]      NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_face_embeddings PRIMARY KEY (face_embedding_id),
    CONSTRAINT uq_face_embeddings_selfie_id UNIQUE (selfie_id),
    CONSTRAINT ck_face_embeddings_embedding_128 CHECK (cardinality(embedding) = 128),
    CONSTRAINT fk_face_embeddings_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE,
    CONSTRAINT fk_face_embeddings_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT fk_face_embeddings_selfie_id_selfies FOREIGN KEY (selfie_id)
        REFERENCES selfies (selfie_id) ON DELETE CASCADE
);
CREATE INDEX ix_face_embeddings_application_id ON face_embeddings (application_id);
CREATE INDEX ix_face_embeddings_user_id ON face_embeddings (user_id);

-- CONDITIONAL: pgvector and its HNSW index only where the server offers the
-- extension (embedded PostgreSQL 18, managed services); without it the table is
-- the same and the duplicate search scans every row (the pipeline logs this once).
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


-- Notifications (issue 6): every delivery attempt, and expiry reminders sent
-- ---------------------------------------------------------------------------

-- One row per attempt (webhook, SNS, email): a message that failed for good ends
-- with a FAILED row. Ids and codes only; the target has no credentials or query.
CREATE TABLE notification_deliveries (
    delivery_id     bigint           GENERATED ALWAYS AS IDENTITY,
    message_id      text             NOT NULL,
    channel         text             NOT NULL,
    event           text             NOT NULL,
    application_id  text,
    target          text             NOT NULL,
    attempt         integer          NOT NULL,
    status          text             NOT NULL,
    status_code     integer,
    latency_ms      double precision NOT NULL,
    error           text,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT pk_notification_deliveries PRIMARY KEY (delivery_id),
    CONSTRAINT ck_notification_deliveries_attempt_positive CHECK (attempt >= 1),
    CONSTRAINT ck_notification_deliveries_status_known
        CHECK (status IN ('DELIVERED', 'RETRYING', 'FAILED')),
    CONSTRAINT ck_notification_deliveries_channel_known
        CHECK (channel IN ('webhook', 'sns', 'email'))
);
CREATE INDEX ix_notification_deliveries_message_id ON notification_deliveries (message_id);
CREATE INDEX ix_notification_deliveries_application_id
    ON notification_deliveries (application_id);
CREATE INDEX ix_notification_deliveries_created_at ON notification_deliveries (created_at);

-- One row per (user, document, threshold) reminded: a re-run sends nothing twice.
CREATE TABLE reminders_sent (
    reminder_id     bigint      GENERATED ALWAYS AS IDENTITY,
    user_id         uuid        NOT NULL,
    id_document_id  uuid        NOT NULL,
    threshold_days  integer     NOT NULL,
    expiry_date     date        NOT NULL,
    days_left       integer     NOT NULL,
    channels        text[]      NOT NULL,
    message_id      text        NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_reminders_sent PRIMARY KEY (reminder_id),
    CONSTRAINT uq_reminders_sent_user_id_id_document_id_threshold_days
        UNIQUE (user_id, id_document_id, threshold_days),
    CONSTRAINT ck_reminders_sent_threshold_positive CHECK (threshold_days > 0),
    CONSTRAINT fk_reminders_sent_user_id_users FOREIGN KEY (user_id)
        REFERENCES users (user_id) ON DELETE CASCADE,
    CONSTRAINT fk_reminders_sent_id_document_id_id_documents FOREIGN KEY (id_document_id)
        REFERENCES id_documents (id_document_id) ON DELETE CASCADE
);
CREATE INDEX ix_reminders_sent_id_document_id ON reminders_sent (id_document_id);

-- Professional registers and licence validation (migration 0003)
-- ---------------------------------------------------------------------------

-- Register extracts loaded with `kyc register-load` (what employers buy from the
-- registers); the snapshot RegisterClient reads them.
CREATE TABLE register_snapshot (
    reg_type       reg_type_enum NOT NULL,
    reg_number     text          NOT NULL,
    full_name      text          NOT NULL,
    status         text          NOT NULL,
    conditions     text[]        NOT NULL DEFAULT '{}'::text[],
    snapshot_date  date          NOT NULL,
    source_file    text          NOT NULL,
    loaded_at      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT pk_register_snapshot PRIMARY KEY (reg_type, reg_number)
);

-- Register answers reused until expires_at (found / not found only); a row with
-- pending_run_id and no result is an Apify run still under way.
CREATE TABLE register_cache (
    reg_type        reg_type_enum NOT NULL,
    reg_number      text          NOT NULL,
    result_json     jsonb,
    source          text          NOT NULL,
    fetched_at      timestamptz   NOT NULL DEFAULT now(),
    expires_at      timestamptz   NOT NULL,
    pending_run_id  text,
    CONSTRAINT pk_register_cache PRIMARY KEY (reg_type, reg_number)
);
CREATE INDEX ix_register_cache_expires_at ON register_cache (expires_at);

-- Driver's licence validations (local rules or a DLDV-style service).
CREATE TABLE licence_checks (
    licence_check_id   uuid        NOT NULL DEFAULT gen_random_uuid(),
    application_id     text        NOT NULL,
    engine             text        NOT NULL,
    verified           boolean,
    field_matches      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    findings           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    raw_response_json  jsonb,
    checked_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_licence_checks PRIMARY KEY (licence_check_id),
    CONSTRAINT fk_licence_checks_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);
CREATE INDEX ix_licence_checks_application_id ON licence_checks (application_id);

-- ---------------------------------------------------------------------------
-- Review console, intake API and the reviewers' feedback (migration 0006)
-- ---------------------------------------------------------------------------

-- Console accounts (local passwords or OpenID Connect subjects).
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
);

-- Server-side sessions: the cookie holds a random token, this table its SHA-256.
CREATE TABLE console_sessions (
    token_hash       text        NOT NULL,
    console_user_id  uuid        NOT NULL,
    csrf_token       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT pk_console_sessions PRIMARY KEY (token_hash),
    CONSTRAINT fk_console_sessions_console_user_id_console_users FOREIGN KEY (console_user_id)
        REFERENCES console_users (console_user_id) ON DELETE CASCADE
);
CREATE INDEX ix_console_sessions_console_user_id ON console_sessions (console_user_id);
CREATE INDEX ix_console_sessions_expires_at ON console_sessions (expires_at);

-- API keys of client systems (intake): the key is shown once, stored as SHA-256.
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
);

-- Idempotency-Key replays: the same key and body get the first response again.
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
);

-- Applications uploaded through the intake API: the key that sent each one (a key
-- reads the status of its own uploads only), by multipart POST or presigned S3 PUTs.
-- No foreign key to applications: a presigned upload reserves its id before any
-- object (and so any applications row) exists. Ids and key ids only, no PII.
CREATE TABLE intake_uploads (
    application_id  text        NOT NULL,
    api_key_id      uuid        NOT NULL,
    method          text        NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_intake_uploads PRIMARY KEY (application_id),
    CONSTRAINT ck_intake_uploads_method_known CHECK (method IN ('multipart', 'presigned')),
    CONSTRAINT fk_intake_uploads_api_key_id_api_keys FOREIGN KEY (api_key_id)
        REFERENCES api_keys (api_key_id) ON DELETE CASCADE
);
CREATE INDEX ix_intake_uploads_api_key_id ON intake_uploads (api_key_id);

-- Who works a MANUAL_REVIEW case now (one row per claimed application).
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
);
CREATE INDEX ix_review_assignments_console_user_id ON review_assignments (console_user_id);

-- Reviewers' notes on a case.
CREATE TABLE review_notes (
    note_id         bigint      GENERATED ALWAYS AS IDENTITY,
    application_id  text        NOT NULL,
    author          text        NOT NULL,
    body            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_review_notes PRIMARY KEY (note_id),
    CONSTRAINT fk_review_notes_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);
CREATE INDEX ix_review_notes_application_id ON review_notes (application_id);

-- A first approval waiting for a second approver (four-eyes), per reviewed version.
CREATE TABLE review_approvals (
    application_id    text        NOT NULL,
    decision_version  integer     NOT NULL,
    approver          text        NOT NULL,
    note              text        NOT NULL DEFAULT '',
    approved_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_review_approvals PRIMARY KEY (application_id, decision_version),
    CONSTRAINT fk_review_approvals_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);

-- The feedback store: what reviewers made of each automated decision.
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
);
CREATE INDEX ix_review_outcomes_decided_at ON review_outcomes (decided_at);

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
$$;
CREATE TRIGGER kyc_decisions_review_notify AFTER INSERT ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_review_notify();
CREATE TRIGGER review_assignments_review_notify
    AFTER INSERT OR UPDATE OR DELETE ON review_assignments
    FOR EACH ROW EXECUTE FUNCTION kyc_review_notify();

-- ---------------------------------------------------------------------------
-- A tamper-evident audit log and append-only decisions (migration 0007)
-- ---------------------------------------------------------------------------

-- The hashed content of one row: every column but the hashes, NULLs marked, the time in UTC.
CREATE FUNCTION audit_log_content(a audit_log) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT concat_ws(E'\x1f',
        a.chain_seq::text, a.audit_id::text, COALESCE(a.application_id, '\N'), a.entity,
        a.entity_id, a.action, COALESCE(a.from_state, '\N'), COALESCE(a.to_state, '\N'),
        a.detail::text, a.actor,
        to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
$$;

CREATE FUNCTION audit_log_hash(prev text, content text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(prev || E'\x1e' || content, 'UTF8')), 'hex')
$$;

CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
BEGIN
    -- One chain: writers take turns until their transaction ends, so the previous
    -- row is always committed and the order of the chain is the order of commits.
    PERFORM pg_advisory_xact_lock(7203, 1);
    SELECT chain_seq, row_hash INTO last_seq, last_hash
        FROM audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
    NEW.chain_seq := COALESCE(last_seq, 0) + 1;
    NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
    NEW.row_hash := audit_log_hash(NEW.prev_hash, audit_log_content(NEW));
    RETURN NEW;
END
$$;

CREATE FUNCTION kyc_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Erasure (kyc erase) alone may delete decision rows, inside its own transaction.
    IF TG_TABLE_NAME = 'kyc_decisions' AND TG_OP = 'DELETE'
       AND current_setting('kyc.erasure', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kyc_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kyc_refuse_change();
CREATE TRIGGER kyc_decisions_append_only BEFORE UPDATE OR DELETE ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_refuse_change();
CREATE TRIGGER kyc_decisions_no_truncate BEFORE TRUNCATE ON kyc_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION kyc_refuse_change();

-- ---------------------------------------------------------------------------
-- Notification outbox (migration 0008)
-- ---------------------------------------------------------------------------

-- Transactional outbox (migration 0008): a decision's notification is written in the
-- decision's own transaction and sent afterwards by a dispatcher, so a crash between
-- the commit and the sending loses nothing. The message id is the webhook id on
-- every attempt.
CREATE TABLE notification_outbox (
    message_id       text        NOT NULL,
    event            text        NOT NULL,
    application_id   text        NOT NULL,
    version          integer     NOT NULL,
    payload          jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered        text[]      NOT NULL DEFAULT '{}'::text[],
    sent_at          timestamptz,
    last_error       text,
    CONSTRAINT pk_notification_outbox PRIMARY KEY (message_id)
);
CREATE INDEX ix_notification_outbox_pending ON notification_outbox (next_attempt_at)
    WHERE sent_at IS NULL;
CREATE INDEX ix_notification_outbox_application_id ON notification_outbox (application_id);

-- The review queue (migration 0012): one row per application whose latest decision
-- is MANUAL_REVIEW and not waiting for a resubmission, recomputed by a trigger on every
-- kyc_decisions insert or update; queued_at/automated: the rules' latest decision on it.
CREATE TABLE review_queue (
    application_id  text        NOT NULL,
    user_id         uuid        NOT NULL,
    version         integer     NOT NULL,
    reasons         text[]      NOT NULL,
    queued_at       timestamptz NOT NULL,
    automated       text[]      NOT NULL,
    CONSTRAINT pk_review_queue PRIMARY KEY (application_id),
    CONSTRAINT fk_review_queue_application_id_applications FOREIGN KEY (application_id)
        REFERENCES applications (application_id) ON DELETE CASCADE
);
CREATE INDEX ix_review_queue_queued_at ON review_queue (queued_at, application_id);
CREATE FUNCTION kyc_review_queue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest record;
    rules record;
BEGIN
    -- Recomputed from the application's decisions, whatever the write was.
    SELECT d.version, d.decision, d.reasons, d.user_id, d.decided_at INTO latest
    FROM kyc_decisions d WHERE d.application_id = NEW.application_id
    ORDER BY d.version DESC LIMIT 1;
    IF latest.decision = 'MANUAL_REVIEW' AND NOT ('RESUBMISSION_REQUESTED' = ANY (latest.reasons)) THEN
        SELECT d.decided_at, d.reasons INTO rules FROM kyc_decisions d
        WHERE d.application_id = NEW.application_id AND d.source = 'pipeline'
        ORDER BY d.version DESC LIMIT 1;
        INSERT INTO review_queue (application_id, user_id, version, reasons, queued_at, automated)
        VALUES (NEW.application_id, latest.user_id, latest.version, latest.reasons,
                COALESCE(rules.decided_at, latest.decided_at), COALESCE(rules.reasons, '{}'))
        ON CONFLICT (application_id) DO UPDATE
            SET user_id = EXCLUDED.user_id, version = EXCLUDED.version,
                reasons = EXCLUDED.reasons, queued_at = EXCLUDED.queued_at,
                automated = EXCLUDED.automated;
    ELSE
        DELETE FROM review_queue WHERE application_id = NEW.application_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kyc_decisions_review_queue AFTER INSERT OR UPDATE ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_review_queue();

-- ---------------------------------------------------------------------------
-- Processing claims (migration 0013)
-- ---------------------------------------------------------------------------

-- One worker at a time per application's objects, beside the idempotency key of
-- kyc_decisions: claimed before any engine work, the lease renewed while the worker
-- works, the row deleted when it is done. A lease that ran out (the worker was
-- killed) lets another worker take the claim over; attempts counts the takeovers.
CREATE TABLE processing_claims (
    application_id     text        NOT NULL,
    input_fingerprint  text        NOT NULL,
    owner              text        NOT NULL,
    claimed_at         timestamptz NOT NULL DEFAULT now(),
    lease_until        timestamptz NOT NULL,
    attempts           integer     NOT NULL DEFAULT 1,
    CONSTRAINT pk_processing_claims PRIMARY KEY (application_id, input_fingerprint)
);
CREATE INDEX ix_processing_claims_owner ON processing_claims (owner);
CREATE INDEX ix_processing_claims_lease_until ON processing_claims (lease_until);

COMMIT;
