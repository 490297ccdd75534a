"""The audit log's hash chain: verification, its head, and one application's story.

The chain itself is written by the database (trigger ``audit_log_chain``, migration
0007): every row holds ``prev_hash`` (the previous row's ``row_hash``) and
``row_hash = sha256(prev_hash || content)``. Verification recomputes both in SQL,
with the same functions, so that Python and PostgreSQL cannot disagree on what the
content of a row is:

* an edited row no longer matches its own hash;
* a deleted row breaks the next row's link (and leaves a gap in ``chain_seq``);
* an inserted row (triggers disabled, a forged row) breaks a link or its own hash.

Deleting the newest rows leaves a shorter, valid chain: only an anchor recorded
elsewhere (``kyc audit verify`` prints the head; ``--anchor SEQ:HASH`` checks it
is still there) catches that.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

GENESIS = "0" * 64

_VERIFY = sa.text(
    """
    SELECT chain_seq, audit_id, prev_hash, row_hash,
           audit_log_hash(prev_hash, audit_log_content(a)) AS recomputed,
           LAG(row_hash) OVER w AS previous_hash,
           LAG(chain_seq) OVER w AS previous_seq
    FROM audit_log a
    WINDOW w AS (ORDER BY chain_seq)
    ORDER BY chain_seq
    """
)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify` found.

    Attributes:
        rows: rows checked.
        head_seq: ``chain_seq`` of the newest row (0: empty log).
        head_hash: its ``row_hash`` (record it elsewhere as an anchor).
        first_bad: ``chain_seq`` of the first row that fails, or None.
        bad_audit_id: that row's ``audit_id`` (None when the row itself is missing).
        problem: why it fails, in words.
    """

    rows: int
    head_seq: int
    head_hash: str
    first_bad: int | None = None
    bad_audit_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when every row and link checks out."""
        return self.first_bad is None

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "rows": self.rows,
            "head": {"chain_seq": self.head_seq, "row_hash": self.head_hash},
            "first_bad": (
                None
                if self.ok
                else {
                    "chain_seq": self.first_bad,
                    "audit_id": self.bad_audit_id,
                    "problem": self.problem,
                }
            ),
        }


def verify(session: Session, *, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Recompute the whole chain; report the first row that breaks it.

    Args:
        session: an open session.
        anchor: a (chain_seq, row_hash) recorded earlier: it must still be in the
            chain with that hash (catches the newest rows being deleted).
    """
    rows = 0
    head_seq, head_hash = 0, GENESIS
    bad: tuple[int, int | None, str] | None = None
    anchored = anchor is None
    for r in session.execute(_VERIFY):
        rows += 1
        head_seq, head_hash = r.chain_seq, r.row_hash
        if bad is not None:
            continue
        expected_seq = (r.previous_seq or 0) + 1
        expected_prev = r.previous_hash if r.previous_hash is not None else GENESIS
        if r.chain_seq != expected_seq:
            bad = (expected_seq, None, f"rows {expected_seq}..{r.chain_seq - 1} are missing")
        elif r.prev_hash != expected_prev:
            bad = (r.chain_seq, r.audit_id, "does not link to the row before it")
        elif r.recomputed != r.row_hash:
            bad = (r.chain_seq, r.audit_id, "content does not match its hash (edited)")
        if anchor is not None and r.chain_seq == anchor[0]:
            anchored = r.row_hash == anchor[1]
            if not anchored and bad is None:
                bad = (r.chain_seq, r.audit_id, "differs from the recorded anchor")
    if bad is None and not anchored and anchor is not None:
        bad = (anchor[0], None, f"the anchored row {anchor[0]} is gone (newest rows deleted)")
    if bad is None:
        return ChainReport(rows, head_seq, head_hash)
    return ChainReport(rows, head_seq, head_hash, bad[0], bad[1], bad[2])


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


_STORY_QUERIES: dict[str, str] = {
    "application": "SELECT * FROM applications WHERE application_id = :a",
    "user": (
        "SELECT u.* FROM users u JOIN applications a USING (user_id) WHERE a.application_id = :a"
    ),
    "id_documents": "SELECT * FROM id_documents WHERE application_id = :a ORDER BY created_at",
    "selfies": "SELECT * FROM selfies WHERE application_id = :a ORDER BY created_at",
    "doc_scans": (
        "SELECT s.* FROM doc_scans s JOIN id_documents d USING (id_document_id)"
        " WHERE d.application_id = :a ORDER BY s.created_at"
    ),
    "face_checks": "SELECT * FROM face_checks WHERE application_id = :a ORDER BY created_at",
    "liveness_checks": (
        "SELECT * FROM liveness_checks WHERE application_id = :a ORDER BY created_at"
    ),
    "reg_checks": "SELECT * FROM reg_checks WHERE application_id = :a ORDER BY checked_at",
    "licence_checks": "SELECT * FROM licence_checks WHERE application_id = :a ORDER BY checked_at",
    "quality_checks": "SELECT * FROM quality_checks WHERE application_id = :a ORDER BY created_at",
    "decisions": "SELECT * FROM kyc_decisions WHERE application_id = :a ORDER BY version",
    "review_outcomes": (
        "SELECT * FROM review_outcomes WHERE application_id = :a ORDER BY decided_at"
    ),
    "review_notes": "SELECT * FROM review_notes WHERE application_id = :a ORDER BY note_id",
    "notifications": (
        "SELECT * FROM notification_deliveries WHERE application_id = :a ORDER BY delivery_id"
    ),
    "dead_letters": (
        "SELECT * FROM dead_letters WHERE application_id = :a ORDER BY dead_letter_id"
    ),
    "audit_log": "SELECT * FROM audit_log WHERE application_id = :a ORDER BY chain_seq",
}


def application_story(session: Session, application_id: str) -> dict[str, Any] | None:
    """Everything recorded about one application, as JSON-ready data; None if unknown.

    For a regulator or a subject access request: the form, the evidence, every
    decision version, reviews, notifications, dead letters and the audit rows with
    their chain hashes (each can be checked against ``kyc audit verify``).
    """
    story: dict[str, Any] = {"application_id": application_id}
    found = False
    for name, query in _STORY_QUERIES.items():
        rows = [
            {k: _plain(v) for k, v in r._mapping.items()}
            for r in session.execute(sa.text(query), {"a": application_id})
        ]
        if name in {"application", "user"}:
            story[name] = rows[0] if rows else None
            found = found or bool(rows)
        else:
            story[name] = rows
            found = found or bool(rows)
    if not found:
        return None
    # Embeddings are biometric data, not part of the story (their existence is).
    story["face_embeddings"] = session.execute(
        sa.text("SELECT count(*) FROM face_embeddings WHERE application_id = :a"),
        {"a": application_id},
    ).scalar_one()
    return story
