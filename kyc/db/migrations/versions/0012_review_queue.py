"""The review queue as a table kept by a trigger: the queue page reads only open cases.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:30:00

``review_queue`` holds one row per application whose latest decision is
MANUAL_REVIEW (and not waiting for a resubmission): its latest version and reasons,
and the time and reasons of the rules' latest decision (what it was queued for).
An AFTER INSERT OR UPDATE trigger on ``kyc_decisions`` recomputes the
application's row from its decisions, whoever writes one (the pipeline, a reviewer,
``kyc reprocess``, an operator's UPDATE), so nothing can forget to. Decisions are
only ever deleted with their application, whose row goes by the foreign key. Computing
the queue from every decision ever made cost ~50 ms a statement with 10,000 open
cases among 30,000 applications and grew with the whole history
(benchmarks/bench_console.py); this table grows with the open cases only.

Versions of one application are written one after another (each is the committed
maximum + 1, under the unique (application_id, version) index), so the recomputation
a later version triggers always sees the earlier ones.

Written as the DDL of sql/schema.sql (tests/db/test_schema.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    """
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
)
    """,
    "CREATE INDEX ix_review_queue_queued_at ON review_queue (queued_at, application_id)",
    """
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
$$
    """,
    """
CREATE TRIGGER kyc_decisions_review_queue AFTER INSERT OR UPDATE ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_review_queue()
    """,
    # The cases already open.
    """
INSERT INTO review_queue (application_id, user_id, version, reasons, queued_at, automated)
SELECT latest.application_id, latest.user_id, latest.version, latest.reasons,
       COALESCE(rules.decided_at, latest.decided_at), COALESCE(rules.reasons, '{}')
FROM (SELECT DISTINCT ON (application_id) * FROM kyc_decisions
      ORDER BY application_id, version DESC) AS latest
LEFT JOIN LATERAL (
    SELECT d.decided_at, d.reasons FROM kyc_decisions d
    WHERE d.application_id = latest.application_id AND d.source = 'pipeline'
    ORDER BY d.version DESC LIMIT 1
) AS rules ON true
WHERE latest.decision = 'MANUAL_REVIEW'
  AND NOT ('RESUBMISSION_REQUESTED' = ANY (latest.reasons))
    """,
)

_DOWNGRADE = (
    "DROP TRIGGER kyc_decisions_review_queue ON kyc_decisions",
    "DROP FUNCTION kyc_review_queue()",
    "DROP TABLE review_queue",
)


def upgrade() -> None:
    """Create the queue table and its trigger; fill it with the open cases."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop them (the queue is computed from kyc_decisions again by older code)."""
    for statement in _DOWNGRADE:
        op.execute(statement)
