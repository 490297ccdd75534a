"""Erasure (GDPR article 17) and retention: deleting what we keep about people.

``erase_user`` deletes a person's objects (document images, selfies, liveness
frames, the form as landed) and face embeddings, redacts their personal data in
every table, and keeps the decision skeleton (versions, decisions, reason codes,
scores) and the audit chain as proof of what was decided; the erasure itself is an
audit row. Idempotent: erasing again finishes whatever an interrupted run left.

``apply_retention`` deletes objects and embeddings of applications whose final
decision (PASS or FAIL, not MANUAL_REVIEW) is older than the retention periods.
Dry-run unless told to apply.

Objects go first, the database second: a run that stops in between leaves the
rows saying what still has to go, and the next run deletes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kyc.db.engine import session_scope
from kyc.db.repository import audit
from kyc.runtime import Runtime
from kyc.storage.base import ObjectNotFound

_log = logging.getLogger(__name__)

#: What a redacted text column holds.
ERASED = "[erased]"


class UnknownPerson(LookupError):
    """No user with that id or email."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What one erasure did (ids and counts only)."""

    user_id: str
    applications: list[str]
    objects_deleted: int
    embeddings_deleted: int
    already_erased: bool

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "user_id": self.user_id,
            "applications": self.applications,
            "objects_deleted": self.objects_deleted,
            "embeddings_deleted": self.embeddings_deleted,
            "already_erased": self.already_erased,
        }


def find_user(rt: Runtime, *, user_id: str | None = None, email: str | None = None) -> str:
    """The user id for an id or an email address.

    Raises:
        UnknownPerson: nobody matches, or an email matches several people.
    """
    with session_scope(rt.db) as s:
        if user_id is not None:
            try:
                uid = uuid.UUID(user_id)
            except ValueError as exc:
                raise UnknownPerson("not a user id (expected a UUID)") from exc
            found = s.execute(
                sa.text("SELECT user_id FROM users WHERE user_id = :u"), {"u": uid}
            ).scalar()
            if found is None:
                raise UnknownPerson("no such user")
            return str(found)
        if email is None:
            raise UnknownPerson("give a user id or an email address")
        ids = (
            s.execute(
                sa.text("SELECT user_id FROM users WHERE lower(email) = lower(:e)"), {"e": email}
            )
            .scalars()
            .all()
        )
    if not ids:
        raise UnknownPerson("no user with that email address")
    if len(ids) > 1:
        raise UnknownPerson(f"{len(ids)} users share that email address: erase each by --user")
    return str(ids[0])


def _delete_objects(rt: Runtime, application_ids: list[str]) -> int:
    """Delete every object of these applications from their landing stores."""
    deleted = 0
    with session_scope(rt.db) as s:
        places = s.execute(
            sa.text(
                "SELECT application_id, landing_uri FROM applications"
                " WHERE application_id = ANY(:ids)"
            ),
            {"ids": application_ids},
        ).all()
    for app_id, landing in places:
        store = rt.store(landing)
        # Everything under the application's folder: also re-landed and stray files.
        for obj in list(store.list(f"incoming/{app_id}/")):
            try:
                store.delete(obj.key)
                deleted += 1
            except ObjectNotFound:
                continue
    return deleted


_REDACT = (
    # users: the person
    "UPDATE users SET email = :pseudo, first_name = :erased, middle_name = NULL,"
    " last_name = :erased, date_of_birth = DATE '1900-01-01', address = '{}'::jsonb,"
    " erased_at = COALESCE(erased_at, now()) WHERE user_id = :u",
    # the form as validated, and the document's identifiers
    "UPDATE applications SET form = '{}'::jsonb, objects_deleted_at = COALESCE("
    "objects_deleted_at, now()) WHERE user_id = :u",
    "UPDATE id_documents SET document_number = :erased, issuing_region = NULL WHERE user_id = :u",
    # what the engines read off the document (names, dates, numbers)
    "UPDATE doc_scans SET fields = '{}'::jsonb WHERE id_document_id IN"
    " (SELECT id_document_id FROM id_documents WHERE user_id = :u)",
    # what registers and licence services answered about the person
    "UPDATE reg_checks SET matched_name = NULL, raw_response_json = NULL, reg_number = NULL"
    " WHERE user_id = :u",
    "UPDATE licence_checks SET raw_response_json = NULL, field_matches = '{}'::jsonb"
    " WHERE application_id IN (SELECT application_id FROM applications WHERE user_id = :u)",
    "UPDATE liveness_checks SET details = '{}'::jsonb"
    " WHERE application_id IN (SELECT application_id FROM applications WHERE user_id = :u)",
    # reviewers' free text may quote the person
    "UPDATE review_notes SET body = :erased"
    " WHERE application_id IN (SELECT application_id FROM applications WHERE user_id = :u)",
)


def erase_user(rt: Runtime, user_id: str, *, actor: str = "operator") -> ErasureReport:
    """Erase one person (see the module doc); idempotent."""
    uid = uuid.UUID(user_id)
    with session_scope(rt.db) as s:
        apps = list(
            s.execute(
                sa.text(
                    "SELECT application_id FROM applications WHERE user_id = :u"
                    " ORDER BY application_id"
                ),
                {"u": uid},
            ).scalars()
        )
        already = (
            s.execute(
                sa.text("SELECT erased_at FROM users WHERE user_id = :u"), {"u": uid}
            ).scalar()
            is not None
        )
    objects = _delete_objects(rt, apps)
    # A stable pseudonym keeps emails unique-looking without keeping the address.
    pseudo = "erased-" + hashlib.sha256(user_id.encode()).hexdigest()[:16] + "@erased.invalid"
    with session_scope(rt.db) as s:
        embeddings = len(
            s.execute(
                sa.text("DELETE FROM face_embeddings WHERE user_id = :u RETURNING 1"), {"u": uid}
            ).all()
        )
        for statement in _REDACT:
            s.execute(sa.text(statement), {"u": uid, "erased": ERASED, "pseudo": pseudo})
        audit(
            s,
            application_id=None,
            entity="user",
            entity_id=user_id,
            action="erased",
            detail={
                "applications": apps,
                "objects_deleted": objects,
                "embeddings_deleted": embeddings,
                "repeat": already,
                "by": actor,
            },
        )
    return ErasureReport(user_id, apps, objects, embeddings, already)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What retention found (and deleted, when applied)."""

    applied: bool
    applications: list[str] = field(default_factory=list)
    objects_deleted: int = 0
    embeddings_deleted: int = 0

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "applied": self.applied,
            "applications": self.applications,
            "objects_deleted": self.objects_deleted,
            "embeddings_deleted": self.embeddings_deleted,
        }


def apply_retention(
    rt: Runtime, *, apply: bool = False, now: dt.datetime | None = None
) -> RetentionReport:
    """Delete objects and embeddings kept longer than the retention periods after a final decision.

    Args:
        rt: the runtime (``retention_object_days``, ``retention_embedding_days``).
        apply: delete; otherwise only report what would go (dry-run).
        now: the time (tests).
    """
    now = now or dt.datetime.now(dt.UTC)
    settings = rt.settings
    object_cutoff = now - dt.timedelta(days=settings.retention_object_days)
    embedding_cutoff = now - dt.timedelta(days=settings.retention_embedding_days)
    final = """
        SELECT d.application_id, d.decided_at FROM (
            SELECT DISTINCT ON (application_id) application_id, decision, decided_at
            FROM kyc_decisions ORDER BY application_id, version DESC) d
        WHERE d.decision IN ('PASS', 'FAIL')
    """
    with session_scope(rt.db) as s:
        due_objects = list(
            s.execute(
                sa.text(
                    f"SELECT f.application_id FROM ({final}) f JOIN applications a"
                    " USING (application_id) WHERE f.decided_at < :cut"
                    " AND a.objects_deleted_at IS NULL ORDER BY 1"
                ),
                {"cut": object_cutoff},
            ).scalars()
        )
        due_embeddings = list(
            s.execute(
                sa.text(
                    f"SELECT DISTINCT f.application_id FROM ({final}) f JOIN face_embeddings e"
                    " USING (application_id) WHERE f.decided_at < :cut ORDER BY 1"
                ),
                {"cut": embedding_cutoff},
            ).scalars()
        )
    apps = sorted(set(due_objects) | set(due_embeddings))
    if not apply:
        return RetentionReport(False, apps)
    objects = _delete_objects(rt, due_objects)
    with session_scope(rt.db) as s:
        embeddings = len(
            s.execute(
                sa.text("DELETE FROM face_embeddings WHERE application_id = ANY(:ids) RETURNING 1"),
                {"ids": due_embeddings},
            ).all()
        )
        s.execute(
            sa.text(
                "UPDATE applications SET objects_deleted_at = now()"
                " WHERE application_id = ANY(:ids)"
            ),
            {"ids": due_objects},
        )
        for app_id in apps:
            audit(
                s,
                application_id=app_id,
                entity="application",
                entity_id=app_id,
                action="retention",
                detail={
                    "objects": app_id in due_objects,
                    "embeddings": app_id in due_embeddings,
                },
            )
    return RetentionReport(True, apps, objects, embeddings)


def rotate_keys(rt: Runtime) -> dict[str, dict[str, int]]:
    """Re-wrap the data keys of every encrypted object under the current key.

    Every local landing the database knows of (and ``KYC_LANDING``) is walked; S3
    landings are skipped (SSE-KMS: KMS rotates its own keys).

    Returns:
        Per store: ``rewrapped``, ``current``, ``plain`` and ``skipped`` counts.
    """
    from kyc.storage.local import LocalStore

    with session_scope(rt.db) as s:
        uris = set(s.execute(sa.text("SELECT DISTINCT landing_uri FROM applications")).scalars())
    uris.add(rt.settings.landing)
    report: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    for uri in sorted(uris):
        store = rt.store(uri)
        if store.uri in seen:
            continue
        seen.add(store.uri)
        counts = {"rewrapped": 0, "current": 0, "plain": 0, "skipped": 0}
        report[store.uri] = counts
        if not isinstance(store, LocalStore) or store.envelope is None:
            counts["skipped"] = -1  # not a local store with a key: nothing to re-wrap
            continue
        for obj in store.list():
            raw = store.get_raw(obj.key)
            rewrapped = store.envelope.rewrap(raw)
            if rewrapped is None:
                counts["plain" if not raw.startswith(b"KYCENC1") else "current"] += 1
                continue
            store.put_raw(obj.key, rewrapped)
            counts["rewrapped"] += 1
    return report
