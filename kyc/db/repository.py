"""Repository functions: the only place the pipeline reads and writes the database.

Every function takes the session first and keyword-only arguments after it, runs
inside the caller's transaction (see :func:`kyc.db.engine.session_scope`), and holds
no business logic: the decision is computed in :mod:`kyc.domain.rules`; this module
only stores it. Each write appends an ``audit_log`` row carrying ids and states,
never PII (no names, numbers or addresses).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from kyc.db import outbox
from kyc.db.models import (
    ID_DOC_STATUSES,
    REG_TYPES,
    ApplicationRow,
    AuditLog,
    DeadLetter,
    DocScan,
    FaceCheck,
    IdDocument,
    KycDecision,
    QualityCheck,
    RegCheck,
    Selfie,
    User,
)
from kyc.domain.application import Application
from kyc.domain.records import (
    Decision,
    DecisionResult,
    DocumentScan,
    FaceComparison,
    QualityResult,
)
from kyc.notify.base import message_id

#: users.status after a decision.
USER_STATUS_FOR_DECISION: dict[str, str] = {
    Decision.PASS.value: "VERIFIED",
    Decision.MANUAL_REVIEW.value: "MANUAL_REVIEW",
    Decision.FAIL.value: "REJECTED",
}

#: First key of the two-key transaction advisory locks taken per application id
#: (the second is hashtext(application_id)); distinct from the migration lock.
_APPLICATION_LOCK_NAMESPACE = 0x6B7963  # "kyc"


class RecordNotFound(LookupError):
    """A row the caller referred to by id does not exist."""


class AlreadyDecided(RuntimeError):
    """These exact inputs were decided meanwhile (e.g. by a concurrent run).

    Attributes:
        version: the standing decision's version.
    """

    def __init__(self, application_id: str, version: int) -> None:
        super().__init__(f"application {application_id}: these objects are already decided")
        self.application_id = application_id
        self.version = version


@dataclass(frozen=True, slots=True)
class ApplicationRefs:
    """Database ids created by :func:`register_application`."""

    application_id: str
    user_id: uuid.UUID
    id_document_id: uuid.UUID
    selfie_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One stored decision, as listed by :func:`list_decisions`."""

    application_id: str
    version: int
    decision: str
    reasons: list[str]
    findings: list[dict[str, Any]]
    scores: dict[str, Any]
    engines: dict[str, Any]
    decided_at: dt.datetime
    #: the version this one re-ran (``kyc reprocess``); None: decided on landing
    reprocess_of: int | None = None
    #: earlier users whose face matches under another identity (DUPLICATE_IDENTITY)
    duplicate_of: list[dict[str, Any]] | None = None
    #: who decided: the rules ("pipeline") or reviewers in the console ("review")
    source: str = "pipeline"
    #: the console users whose review made this version
    reviewed_by: list[str] | None = None
    #: the digest of the objects decided on (not in ``as_json``: an internal key)
    input_fingerprint: str = ""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (``kyc decisions --json`` prints one per line)."""
        return {
            "application_id": self.application_id,
            "version": self.version,
            "decision": self.decision,
            "reasons": list(self.reasons),
            "findings": [dict(f) for f in self.findings],
            "scores": dict(self.scores),
            "engines": dict(self.engines),
            "decided_at": _iso_utc(self.decided_at),
            "reprocess_of": self.reprocess_of,
            "duplicate_of": [dict(d) for d in self.duplicate_of or []],
            "source": self.source,
            "reviewed_by": list(self.reviewed_by or []),
        }


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _iso_utc(value: dt.datetime) -> str:
    """ISO 8601 in UTC (``...+00:00``); naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat()


def audit(
    session: Session,
    *,
    application_id: str | None,
    entity: str,
    entity_id: object,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Add one audit row to the session (hash-chained by the database on insert).

    Args:
        session: the transaction the audited change is made in (the row commits with it).
        application_id: the application concerned, None for system-wide rows.
        entity: the kind of row concerned (``user``, ``kyc_decision``, ...).
        entity_id: its id (stored as text).
        action: what was done to it.
        from_state: the state before, when the action changes one.
        to_state: the state after.
        detail: structured context; never form values (PII stays out of the log).
        actor: who did it (a console user, an API key's owner); None leaves the
            column's default, 'pipeline'.
    """
    row = AuditLog(
        application_id=application_id,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        from_state=from_state,
        to_state=to_state,
        detail=detail or {},
    )
    if actor is not None:
        row.actor = actor
    session.add(row)


def lock_application(session: Session, application_id: str) -> None:
    """Serialise writers of one application until the transaction ends.

    Registration (first insert of user + application) and decision versioning
    (max + 1) are read-then-write; two workers on the same application would
    otherwise race. Other applications are not blocked (hash collisions only make
    two unrelated applications wait for each other briefly).
    """
    session.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(
                _APPLICATION_LOCK_NAMESPACE, sa.func.hashtext(application_id)
            )
        )
    )


def _finite(name: str, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _check_label(kind: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")
    return value


# --------------------------------------------------------------------------------------
# idempotency and registration
# --------------------------------------------------------------------------------------


def decision_exists(session: Session, *, application_id: str, input_fingerprint: str) -> bool:
    """True when these exact inputs (application + object fingerprint) were decided."""
    stmt = sa.select(
        sa.exists().where(
            KycDecision.application_id == application_id,
            KycDecision.input_fingerprint == input_fingerprint,
        )
    )
    return bool(session.execute(stmt).scalar())


def decided_inputs(session: Session, *, keys: Sequence[tuple[str, str]]) -> dict[str, DecisionRow]:
    """Decisions already made on exact inputs, for many applications in one query.

    The batch flow asks once per batch instead of once per application.

    Args:
        session: an open session.
        keys: ``(application_id, input_fingerprint)`` pairs.

    Returns:
        application_id → the decision made on that fingerprint (absent: undecided).
    """
    d = KycDecision
    found: dict[str, DecisionRow] = {}
    for start in range(0, len(keys), 1000):  # bounded IN lists for very large batches
        chunk = list(keys[start : start + 1000])
        stmt = (
            _decision_select()
            .where(sa.tuple_(d.application_id, d.input_fingerprint).in_(chunk))
            .order_by(d.application_id, d.version.desc())
        )
        for r in session.execute(stmt):
            found.setdefault(r.application_id, _decision_row(r))
    return found


def _newest(session: Session, column: Any, created: Any, *where: Any) -> uuid.UUID | None:
    """``column`` of the newest row (by ``created``) matching ``where``, or None."""
    stmt = sa.select(column).where(*where).order_by(created.desc()).limit(1)
    found: uuid.UUID | None = session.execute(stmt).scalar()
    return found


def register_application(
    session: Session,
    *,
    application: Application,
    landing_uri: str,
    input_fingerprint: str,
    front_key: str,
    front_etag: str,
    back_key: str | None,
    back_etag: str | None,
    selfie_key: str,
    selfie_etag: str,
) -> ApplicationRefs:
    """Upsert the application and its user; add its id_document (NEW) and selfie rows.

    A re-landing of the same ``application_id`` reuses its user (refreshing the
    fields from the form; the status is left to the next decision) and adds new
    id_document and selfie rows for the newly landed objects. The same objects
    registered again (same landing and fingerprint: a retried task, a run repeated
    after a crash, reprocessing) get the rows they were registered with, unchanged.

    Raises:
        ValueError: a back side given without its ETag (or the other way round).
    """
    if (back_key is None) != (back_etag is None):
        raise ValueError("back_key and back_etag must be given together")
    app_id = application.application_id
    lock_application(session, app_id)
    row = session.get(ApplicationRow, app_id)
    if row is not None and (row.landing_uri, row.input_fingerprint) == (
        landing_uri,
        input_fingerprint,
    ):
        doc_id = _newest(
            session,
            IdDocument.id_document_id,
            IdDocument.created_at,
            IdDocument.application_id == app_id,
            IdDocument.front_key == front_key,
            IdDocument.front_etag == front_etag,
            IdDocument.back_key.is_not_distinct_from(back_key),
            IdDocument.back_etag.is_not_distinct_from(back_etag),
        )
        selfie_id = _newest(
            session,
            Selfie.selfie_id,
            Selfie.created_at,
            Selfie.application_id == app_id,
            Selfie.object_key == selfie_key,
            Selfie.etag == selfie_etag,
        )
        if doc_id is not None and selfie_id is not None:
            return ApplicationRefs(app_id, row.user_id, doc_id, selfie_id)
    user_fields: dict[str, Any] = {
        "email": application.email,
        "first_name": application.first_name,
        "middle_name": application.middle_name,
        "last_name": application.last_name,
        "date_of_birth": application.date_of_birth,
        "address": application.to_json()["address"],
    }
    form = application.to_json()

    if row is None:
        user = User(user_id=uuid.uuid4(), **user_fields)
        session.add(user)
        # Flush the parent first: without relationship() the unit of work is not
        # obliged to order inserts of unrelated mappers by their foreign keys.
        session.flush()
        audit(
            session,
            application_id=app_id,
            entity="user",
            entity_id=user.user_id,
            action="created",
            to_state="PENDING",
        )
        row = ApplicationRow(
            application_id=app_id,
            user_id=user.user_id,
            landing_uri=landing_uri,
            input_fingerprint=input_fingerprint,
            form=form,
        )
        session.add(row)
        audit(
            session,
            application_id=app_id,
            entity="application",
            entity_id=app_id,
            action="registered",
            detail={"input_fingerprint": input_fingerprint},
        )
    else:
        user = session.get_one(User, row.user_id)
        for key, value in user_fields.items():
            setattr(user, key, value)
        audit(
            session, application_id=app_id, entity="user", entity_id=user.user_id, action="updated"
        )
        previous = row.input_fingerprint
        row.landing_uri = landing_uri
        row.input_fingerprint = input_fingerprint
        row.form = form
        audit(
            session,
            application_id=app_id,
            entity="application",
            entity_id=app_id,
            action="relanded",
            detail={"previous_fingerprint": previous, "input_fingerprint": input_fingerprint},
        )
    session.flush()

    claim = application.document
    doc = IdDocument(
        id_document_id=uuid.uuid4(),
        application_id=app_id,
        user_id=user.user_id,
        doc_type=claim.type.value,
        document_number=claim.number,
        issuing_country=claim.issuing_country,
        issuing_region=claim.issuing_region,
        expiry_date=claim.expiry_date,
        front_key=front_key,
        front_etag=front_etag,
        back_key=back_key,
        back_etag=back_etag,
        status="NEW",
    )
    selfie = Selfie(
        selfie_id=uuid.uuid4(),
        application_id=app_id,
        user_id=user.user_id,
        object_key=selfie_key,
        etag=selfie_etag,
    )
    session.add_all([doc, selfie])
    audit(
        session,
        application_id=app_id,
        entity="id_document",
        entity_id=doc.id_document_id,
        action="created",
        to_state="NEW",
        detail={"doc_type": claim.type.value},
    )
    audit(
        session,
        application_id=app_id,
        entity="selfie",
        entity_id=selfie.selfie_id,
        action="created",
    )
    session.flush()
    return ApplicationRefs(
        application_id=app_id,
        user_id=user.user_id,
        id_document_id=doc.id_document_id,
        selfie_id=selfie.selfie_id,
    )


def set_document_status(
    session: Session, *, id_document_id: uuid.UUID, status: str, application_id: str
) -> None:
    """Move an id_document to ``status`` and audit the transition (from -> to).

    Raises:
        ValueError: ``status`` is not an ``id_doc_status_enum`` label, or the document
            belongs to another application.
        RecordNotFound: no such id_document.
    """
    _check_label("id_document status", status, ID_DOC_STATUSES)
    doc = session.get(IdDocument, id_document_id, with_for_update=True)
    if doc is None:
        raise RecordNotFound(f"id_document {id_document_id} does not exist")
    if doc.application_id != application_id:
        raise ValueError(
            f"id_document {id_document_id} belongs to application {doc.application_id}, "
            f"not {application_id}"
        )
    previous = doc.status
    doc.status = status
    audit(
        session,
        application_id=application_id,
        entity="id_document",
        entity_id=id_document_id,
        action="status",
        from_state=previous,
        to_state=status,
    )
    session.flush()


# --------------------------------------------------------------------------------------
# evidence
# --------------------------------------------------------------------------------------


def _application_of_document(session: Session, id_document_id: uuid.UUID) -> str:
    app_id = session.execute(
        sa.select(IdDocument.application_id).where(IdDocument.id_document_id == id_document_id)
    ).scalar()
    if app_id is None:
        raise RecordNotFound(f"id_document {id_document_id} does not exist")
    return app_id


def record_doc_scan(
    session: Session, *, id_document_id: uuid.UUID, scan: DocumentScan
) -> uuid.UUID:
    """Store what the DocumentReader read; returns the doc_scan id.

    Raises:
        RecordNotFound: no such id_document.
    """
    app_id = _application_of_document(session, id_document_id)
    data = scan.as_dict()
    row = DocScan(
        doc_scan_id=uuid.uuid4(),
        id_document_id=id_document_id,
        engine=data["engine"],
        engine_version=data["engine_version"],
        fields=data["fields"],
        findings=data["findings"],
        timings_ms=data["timings_ms"],
        portrait_box=list(scan.portrait_box) if scan.portrait_box else None,
    )
    session.add(row)
    audit(
        session,
        application_id=app_id,
        entity="doc_scan",
        entity_id=row.doc_scan_id,
        action="recorded",
        detail={
            "id_document_id": str(id_document_id),
            "engine": scan.engine,
            "fields": len(scan.fields),
            "findings": [f.reason.value for f in scan.findings],
        },
    )
    session.flush()
    return row.doc_scan_id


def record_face_check(
    session: Session,
    *,
    application_id: str,
    selfie_id: uuid.UUID,
    id_document_id: uuid.UUID,
    result: FaceComparison,
    matched: bool | None,
) -> uuid.UUID:
    """Store a face comparison; returns the face_check id.

    Raises:
        ValueError: a score is NaN or infinite, or the similarity is outside 0-100.
    """
    similarity = _finite("similarity", result.similarity)
    if similarity is not None and not 0 <= similarity <= 100:
        raise ValueError(f"similarity must be within 0-100, got {similarity!r}")
    data = result.as_dict()
    row = FaceCheck(
        face_check_id=uuid.uuid4(),
        application_id=application_id,
        selfie_id=selfie_id,
        id_document_id=id_document_id,
        engine=result.engine,
        engine_version=result.engine_version,
        # numeric(6,3): quantise here so what is stored is what the audit says.
        similarity=None if similarity is None else Decimal(str(round(similarity, 3))),
        distance=_finite("distance", result.distance),
        source_confidence=_finite("source_confidence", result.source_confidence),
        target_confidence=_finite("target_confidence", result.target_confidence),
        matched=matched,
        findings=data["findings"],
        timings_ms=data["timings_ms"],
    )
    session.add(row)
    audit(
        session,
        application_id=application_id,
        entity="face_check",
        entity_id=row.face_check_id,
        action="recorded",
        detail={"engine": result.engine, "similarity": data["similarity"], "matched": matched},
    )
    session.flush()
    return row.face_check_id


def record_reg_check(
    session: Session,
    *,
    application_id: str,
    user_id: uuid.UUID,
    reg_type: str,
    reg_number: str | None,
    status: str,
    detail: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Store a professional-register check; returns the reg_check id.

    ``detail`` is the register's response as JSON (``raw_response_json``); its
    optional keys ``snapshot_date`` (ISO date), ``matched_name`` and
    ``matched_status`` also fill the columns of the same names.

    Raises:
        ValueError: unknown ``reg_type`` or an empty status or a malformed snapshot date.
    """
    _check_label("reg_type", reg_type, REG_TYPES)
    if not status:
        raise ValueError("reg_check status must not be empty")
    snapshot: dt.date | None = None
    if detail and detail.get("snapshot_date") is not None:
        raw = detail["snapshot_date"]
        try:
            snapshot = raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
        except ValueError as exc:
            raise ValueError("reg_check detail.snapshot_date is not an ISO date") from exc
    row = RegCheck(
        reg_check_id=uuid.uuid4(),
        application_id=application_id,
        user_id=user_id,
        reg_type=reg_type,
        reg_number=reg_number,
        status=status,
        snapshot_date=snapshot,
        matched_name=(detail or {}).get("matched_name"),
        matched_status=(detail or {}).get("matched_status"),
        raw_response_json=detail,
    )
    session.add(row)
    audit(
        session,
        application_id=application_id,
        entity="reg_check",
        entity_id=row.reg_check_id,
        action="recorded",
        to_state=status,
        detail={"reg_type": reg_type},
    )
    session.flush()
    return row.reg_check_id


def record_quality(session: Session, *, application_id: str, result: QualityResult) -> uuid.UUID:
    """Store the data-quality gate outcome; returns the quality_check id."""
    row = QualityCheck(
        quality_check_id=uuid.uuid4(),
        application_id=application_id,
        suite=result.suite,
        success=result.success,
        failed_expectations=list(result.failed_expectations),
        evaluated=result.evaluated,
    )
    session.add(row)
    audit(
        session,
        application_id=application_id,
        entity="quality_check",
        entity_id=row.quality_check_id,
        action="recorded",
        to_state="PASSED" if result.success else "FAILED",
        detail={"suite": result.suite, "failed": len(result.failed_expectations)},
    )
    session.flush()
    return row.quality_check_id


# --------------------------------------------------------------------------------------
# decisions
# --------------------------------------------------------------------------------------


def record_decision(
    session: Session,
    *,
    application_id: str,
    user_id: uuid.UUID,
    result: DecisionResult,
    engines: dict[str, str],
    input_fingerprint: str,
    reprocess_of: int | None = None,
) -> int:
    """Store the next version of the application's decision; returns that version.

    Also sets the user's status (PASS -> VERIFIED, MANUAL_REVIEW -> MANUAL_REVIEW,
    FAIL -> REJECTED) and moves the application's id_documents to DECIDED, with
    audit rows for each change.

    ``reprocess_of`` is set by reprocessing (the version being re-run): the
    "already decided" check is then bypassed on purpose and the audit row says so;
    the earlier versions stay as they are.

    Raises:
        AlreadyDecided: these inputs (``input_fingerprint``) were already decided
            for this application (never raised when reprocessing).
        ValueError: a score is NaN or infinite; ``reprocess_of`` names no version.
        RecordNotFound: no such user.
    """
    scores = {key: _finite(f"score {key}", value) for key, value in result.scores.items()}
    decision = Decision(result.decision).value
    lock_application(session, application_id)
    # Under the application lock, so concurrent runs on the same objects cannot both
    # pass this check: the second one learns the standing version.
    standing = session.execute(
        sa.select(KycDecision.version).where(
            KycDecision.application_id == application_id,
            KycDecision.input_fingerprint == input_fingerprint,
        )
    ).scalar()
    if standing is not None and reprocess_of is None:
        raise AlreadyDecided(application_id, standing)
    current = session.execute(
        sa.select(sa.func.max(KycDecision.version)).where(
            KycDecision.application_id == application_id
        )
    ).scalar()
    if reprocess_of is not None and not 1 <= reprocess_of <= (current or 0):
        raise ValueError(f"application {application_id} has no decision version {reprocess_of}")
    version = (current or 0) + 1
    row = KycDecision(
        decision_id=uuid.uuid4(),
        application_id=application_id,
        user_id=user_id,
        version=version,
        decision=decision,
        reasons=list(result.reasons),
        findings=[f.as_dict() for f in result.findings],
        scores=scores,
        engines=dict(engines),
        input_fingerprint=input_fingerprint,
        decided_at=result.decided_at,
        reprocess_of=reprocess_of,
        duplicate_of=[m.as_dict() for m in result.duplicate_of],
    )
    session.add(row)
    # Flush now: a duplicate fingerprint must fail here, before any status changes.
    session.flush()
    audit(
        session,
        application_id=application_id,
        entity="kyc_decision",
        entity_id=row.decision_id,
        action="decided" if reprocess_of is None else "reprocessed",
        to_state=decision,
        detail={
            "version": version,
            "reasons": list(result.reasons),
            "input_fingerprint": input_fingerprint,
        }
        | (
            {}
            if reprocess_of is None
            else {
                "reprocess_of": reprocess_of,
                # Said out loud: these objects were decided before (version
                # ``standing``); the earlier versions stay in kyc_decisions.
                "idempotency_bypassed": standing is not None,
                "previously_decided_version": standing,
            }
        ),
    )

    settle_application(session, application_id=application_id, user_id=user_id, decision=decision)
    _resolve_dead_letters(session, application_id)
    enqueue_notification(
        session, application_id, version, decision, list(result.reasons), row.decided_at
    )
    session.flush()
    return version


def enqueue_notification(
    session: Session,
    application_id: str,
    version: int,
    decision: str,
    reasons: list[str],
    decided_at: dt.datetime,
) -> None:
    """Write the decision version's notification to the outbox, in this transaction.

    Always, whatever is configured: the dispatcher decides who hears about it, and a
    channel configured later still has the message id every retry must reuse.
    """
    outbox.enqueue_decision(
        session,
        message_id=message_id(outbox.DECISION_EVENT, application_id, version),
        application_id=application_id,
        version=version,
        decision=decision,
        reasons=reasons,
        decided_at=decided_at,
    )


def settle_application(
    session: Session,
    *,
    application_id: str,
    user_id: uuid.UUID,
    decision: str,
    actor: str | None = None,
) -> None:
    """After a new decision version: the user's status follows it, documents are DECIDED.

    PASS -> VERIFIED, MANUAL_REVIEW -> MANUAL_REVIEW, FAIL -> REJECTED; each change
    gets an audit row, made by ``actor`` (a reviewer; None: the pipeline). Shared by
    the rules' decisions and the reviewers'.

    Raises:
        RecordNotFound: no such user.
    """
    user = session.get(User, user_id, with_for_update=True)
    if user is None:
        raise RecordNotFound(f"user {user_id} does not exist")
    new_status = USER_STATUS_FOR_DECISION[decision]
    if user.status != new_status:
        audit(
            session,
            application_id=application_id,
            entity="user",
            entity_id=user_id,
            action="status",
            from_state=user.status,
            to_state=new_status,
            actor=actor,
        )
        user.status = new_status

    docs = (
        session.execute(
            sa.select(IdDocument)
            .where(IdDocument.application_id == application_id, IdDocument.status != "DECIDED")
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for doc in docs:
        audit(
            session,
            application_id=application_id,
            entity="id_document",
            entity_id=doc.id_document_id,
            action="status",
            from_state=doc.status,
            to_state="DECIDED",
            actor=actor,
        )
        doc.status = "DECIDED"


def list_decisions(
    session: Session,
    *,
    latest_only: bool = True,
    application_id: str | None = None,
    input_fingerprint: str | None = None,
) -> list[DecisionRow]:
    """Stored decisions ordered by application id (then version).

    Args:
        session: an open session.
        latest_only: only the highest version per application.
        application_id: restrict to one application.
        input_fingerprint: restrict to the decision made on these exact objects.
    """
    d = KycDecision
    stmt = _decision_select()
    if application_id is not None:
        stmt = stmt.where(d.application_id == application_id)
    if input_fingerprint is not None:
        stmt = stmt.where(d.input_fingerprint == input_fingerprint)
    if latest_only:
        # DISTINCT ON keeps the first row of each application in this order.
        stmt = stmt.distinct(d.application_id).order_by(d.application_id, d.version.desc())
    else:
        stmt = stmt.order_by(d.application_id, d.version)
    return [_decision_row(r) for r in session.execute(stmt)]


def _decision_select() -> sa.Select[Any]:
    d = KycDecision
    return sa.select(
        d.application_id,
        d.version,
        d.decision,
        d.reasons,
        d.findings,
        d.scores,
        d.engines,
        d.decided_at,
        d.reprocess_of,
        d.duplicate_of,
        d.source,
        d.reviewed_by,
        d.input_fingerprint,
    )


def _decision_row(r: Any) -> DecisionRow:
    return DecisionRow(
        application_id=r.application_id,
        version=r.version,
        decision=r.decision,
        reasons=list(r.reasons),
        findings=list(r.findings),
        scores=dict(r.scores),
        engines=dict(r.engines),
        decided_at=r.decided_at,
        reprocess_of=r.reprocess_of,
        duplicate_of=list(r.duplicate_of),
        source=r.source,
        reviewed_by=list(r.reviewed_by),
        input_fingerprint=r.input_fingerprint,
    )


@dataclass(frozen=True, slots=True)
class StoredApplication:
    """Where an application's objects were landed, and its latest decision version."""

    application_id: str
    landing_uri: str
    input_fingerprint: str
    latest_version: int | None


def stored_application(session: Session, *, application_id: str) -> StoredApplication | None:
    """The stored landing location of an application (for reprocessing); None if unknown."""
    row = session.get(ApplicationRow, application_id)
    if row is None:
        return None
    latest = session.execute(
        sa.select(sa.func.max(KycDecision.version)).where(
            KycDecision.application_id == application_id
        )
    ).scalar()
    return StoredApplication(application_id, row.landing_uri, row.input_fingerprint, latest)


# --------------------------------------------------------------------------------------
# dead letters
# --------------------------------------------------------------------------------------


def record_dead_letter(
    session: Session,
    *,
    application_id: str | None,
    landing_uri: str,
    stage: str,
    error_code: str,
    detail: str,
    payload: dict[str, Any] | None = None,
) -> int:
    """Record that an application (or landing folder) could not be processed.

    The same unresolved problem (application id, or landing URI when there is no
    id; stage; error code) is kept as one row: a repeat refreshes its detail,
    payload and ``created_at`` instead of adding a row. Returns the row's id.
    """
    if application_id is not None:
        conflict_cols = ["application_id", "stage", "error_code"]
        where = sa.text("resolved_at IS NULL AND application_id IS NOT NULL")
    else:
        conflict_cols = ["landing_uri", "stage", "error_code"]
        where = sa.text("resolved_at IS NULL AND application_id IS NULL")
    insert = pg_insert(DeadLetter).values(
        application_id=application_id,
        landing_uri=landing_uri,
        stage=stage,
        error_code=error_code,
        detail=detail,
        payload=payload,
    )
    stmt = insert.on_conflict_do_update(
        index_elements=conflict_cols,
        index_where=where,
        set_={
            "landing_uri": insert.excluded.landing_uri,
            "detail": insert.excluded.detail,
            "payload": insert.excluded.payload,
            "created_at": sa.func.now(),
        },
    ).returning(DeadLetter.dead_letter_id, (sa.literal_column("xmax") == 0).label("inserted"))
    row = session.execute(stmt).one()
    audit(
        session,
        application_id=application_id,
        entity="dead_letter",
        entity_id=row.dead_letter_id,
        action="recorded" if row.inserted else "repeated",
        to_state=error_code,
        detail={"stage": stage},
    )
    session.flush()
    return int(row.dead_letter_id)


def _resolve_dead_letters(session: Session, application_id: str) -> None:
    """Close the application's open dead letters: it is decided now.

    An earlier run that could not read its objects (OBJECT_UNREADABLE) or failed
    (PROCESSING_FAILED, e.g. the database was down) left one; the sweep that decided
    it settles the problem, so ``kyc dead-letters`` lists only what still needs
    someone. The rows stay, with ``resolved_at`` set, and the audit log says so.
    """
    resolved = session.execute(
        sa.update(DeadLetter)
        .where(DeadLetter.application_id == application_id, DeadLetter.resolved_at.is_(None))
        .values(resolved_at=sa.func.now())
        .returning(DeadLetter.dead_letter_id, DeadLetter.error_code)
    ).all()
    for dead_letter_id, error_code in resolved:
        audit(
            session,
            application_id=application_id,
            entity="dead_letter",
            entity_id=dead_letter_id,
            action="resolved",
            to_state=error_code,
            detail={"by": "decision"},
        )


def open_dead_letters_by_code(session: Session) -> dict[str, int]:
    """Unresolved dead letters per error code (a health figure)."""
    stmt = (
        sa.select(DeadLetter.error_code, sa.func.count())
        .where(DeadLetter.resolved_at.is_(None))
        .group_by(DeadLetter.error_code)
    )
    return {str(code): int(n) for code, n in session.execute(stmt)}


def dead_letters_since(
    session: Session, *, application_ids: Sequence[str], since: dt.datetime
) -> dict[str, tuple[str, str]]:
    """Unresolved dead letters of these applications recorded (or repeated) since ``since``.

    Returns:
        application_id → (error code, detail).
    """
    found: dict[str, tuple[str, str]] = {}
    ids = sorted(set(application_ids))
    for start in range(0, len(ids), 1000):  # bounded IN lists for large batches
        stmt = sa.select(DeadLetter.application_id, DeadLetter.error_code, DeadLetter.detail).where(
            DeadLetter.application_id.in_(ids[start : start + 1000]),
            DeadLetter.resolved_at.is_(None),
            DeadLetter.created_at >= since,
        )
        for r in session.execute(stmt):
            found[r.application_id] = (r.error_code, r.detail)
    return found


def list_dead_letters(session: Session, *, unresolved_only: bool = True) -> list[dict[str, Any]]:
    """Dead letters, oldest first, as JSON-ready dicts (timestamps in ISO 8601 UTC)."""
    stmt = sa.select(DeadLetter).order_by(DeadLetter.created_at, DeadLetter.dead_letter_id)
    if unresolved_only:
        stmt = stmt.where(DeadLetter.resolved_at.is_(None))
    return [
        {
            "dead_letter_id": r.dead_letter_id,
            "application_id": r.application_id,
            "landing_uri": r.landing_uri,
            "stage": r.stage,
            "error_code": r.error_code,
            "detail": r.detail,
            "payload": r.payload,
            "created_at": _iso_utc(r.created_at),
            "resolved_at": None if r.resolved_at is None else _iso_utc(r.resolved_at),
        }
        for r in session.execute(stmt).scalars()
    ]


__all__ = [
    "USER_STATUS_FOR_DECISION",
    "ApplicationRefs",
    "DecisionRow",
    "RecordNotFound",
    "dead_letters_since",
    "decision_exists",
    "list_dead_letters",
    "list_decisions",
    "open_dead_letters_by_code",
    "record_dead_letter",
    "record_decision",
    "record_doc_scan",
    "record_face_check",
    "record_quality",
    "record_reg_check",
    "register_application",
    "set_document_status",
]
