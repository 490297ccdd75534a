"""A tamper-evident audit log and append-only decisions (issue 16).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 20:30:00

* ``audit_log`` gains ``chain_seq``, ``prev_hash`` and ``row_hash``: a BEFORE INSERT
  trigger links every new row to the previous one (SHA-256 of the previous hash and
  the row's own content, :func:`audit_log_content`), under a transaction-level lock,
  so every writer extends one chain; rows written before are chained in id order.
  ``kyc audit verify`` recomputes it (kyc/db/chain.py).
* ``audit_log`` refuses UPDATE, DELETE and TRUNCATE; ``kyc_decisions`` refuses them
  too, except DELETE inside an erasure (``SET LOCAL kyc.erasure = 'on'``).

Written as the DDL of sql/schema.sql (tests/db/test_schema.py compares the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UPGRADE = (
    r"""
ALTER TABLE audit_log
    ADD COLUMN chain_seq bigint,
    ADD COLUMN prev_hash text,
    ADD COLUMN row_hash text
    """,
    r"""
CREATE FUNCTION audit_log_content(a audit_log) RETURNS text
    LANGUAGE sql STABLE AS $$
    SELECT concat_ws(E'\x1f',
        a.chain_seq::text, a.audit_id::text, COALESCE(a.application_id, '\N'), a.entity,
        a.entity_id, a.action, COALESCE(a.from_state, '\N'), COALESCE(a.to_state, '\N'),
        a.detail::text, a.actor,
        to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
$$
    """,
    r"""
CREATE FUNCTION audit_log_hash(prev text, content text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(prev || E'\x1e' || content, 'UTF8')), 'hex')
$$
    """,
    r"""
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
$$
    """,
    r"""
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
$$
    """,
    r"""
DO $$
DECLARE
    r record;
    seq bigint := 0;
    prev text := repeat('0', 64);
BEGIN
    FOR r IN SELECT audit_id FROM audit_log ORDER BY audit_id LOOP
        seq := seq + 1;
        UPDATE audit_log SET chain_seq = seq, prev_hash = prev WHERE audit_id = r.audit_id;
        UPDATE audit_log a SET row_hash = audit_log_hash(prev, audit_log_content(a))
            WHERE audit_id = r.audit_id RETURNING row_hash INTO prev;
    END LOOP;
END
$$
    """,
    r"""
ALTER TABLE audit_log
    ALTER COLUMN chain_seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ADD CONSTRAINT uq_audit_log_chain_seq UNIQUE (chain_seq)
    """,
    r"""
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_chain()
    """,
    r"""
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION kyc_refuse_change()
    """,
    r"""
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION kyc_refuse_change()
    """,
    r"""
CREATE TRIGGER kyc_decisions_append_only BEFORE UPDATE OR DELETE ON kyc_decisions
    FOR EACH ROW EXECUTE FUNCTION kyc_refuse_change()
    """,
    r"""
CREATE TRIGGER kyc_decisions_no_truncate BEFORE TRUNCATE ON kyc_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION kyc_refuse_change()
    """,
)

_DOWNGRADE = (
    "DROP TRIGGER kyc_decisions_no_truncate ON kyc_decisions",
    "DROP TRIGGER kyc_decisions_append_only ON kyc_decisions",
    "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP TRIGGER audit_log_chain ON audit_log",
    "DROP FUNCTION kyc_refuse_change()",
    "DROP FUNCTION audit_log_chain()",
    "DROP FUNCTION audit_log_hash(text, text)",
    "DROP FUNCTION audit_log_content(audit_log)",
    "ALTER TABLE audit_log DROP CONSTRAINT uq_audit_log_chain_seq,"
    " DROP COLUMN row_hash, DROP COLUMN prev_hash, DROP COLUMN chain_seq",
)


def upgrade() -> None:
    """Chain the audit log; make it and the decisions append-only."""
    for statement in _UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    """Drop the chain and the append-only triggers."""
    for statement in _DOWNGRADE:
        op.execute(statement)
