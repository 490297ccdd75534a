"""Review console storage: the queue, a case's whole record, claims, notes, outcomes.

The rules of review (who may do what, four-eyes) are in :mod:`kyc.domain.review`;
:mod:`kyc.services.review` combines both inside one transaction per action.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db import repository as repo
from kyc.db.models import (
    ApplicationRow,
    AuditLog,
    ConsoleUser,
    DocScan,
    FaceCheck,
    IdDocument,
    KycDecision,
    LicenceCheck,
    LivenessCheck,
    QualityCheck,
    RegCheck,
    ReviewApproval,
    ReviewAssignment,
    ReviewNote,
    ReviewOutcome,
    ReviewQueueRow,
    Selfie,
    User,
)
from kyc.domain.review import Outcome

#: Queue filters on age: label -> (minimum hours waited, only overdue).
AGE_FILTERS = ("overdue", "over_4h", "over_24h", "under_4h")
#: Rows per queue page.
PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class QueueFilters:
    """What the queue page filters on (None: no filter)."""

    reason: str | None = None
    age: str | None = None  # one of AGE_FILTERS
    doc_type: str | None = None
    reg_type: str | None = None
    #: a username, "unassigned", or None for anyone
    assignee: str | None = None


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One open case in the queue."""

    application_id: str
    version: int
    reasons: list[str]
    queued_at: dt.datetime
    doc_type: str | None
    reg_type: str | None
    assignee: str | None
    applicant: str
    escalated: bool
    #: the reasons of the rules' latest decision (what the case was queued for)
    automated: list[str] = field(default_factory=list)


def _open_cases() -> Any:
    """Open cases: the ``review_queue`` table (migration 0012), kept by a trigger.

    Computing the open cases from every decision version on each request cost
    ~50 ms a statement with 10,000 open cases among 30,000 applications, grew with
    the whole history, and with the filters folded in the planner once ran the "no
    later version" test as a nested loop over every decision (10 s a page;
    benchmarks/bench_console.py, benchmarks/README.md). The table holds the open
    cases only: the latest version and its reasons; ``queued_at`` and ``automated``
    are the time and reasons of the rules' latest decision (what the case was
    queued for; an escalation is a review version carrying only its own reason).
    """
    q = ReviewQueueRow
    return sa.select(
        q.application_id, q.version, q.reasons, q.user_id, q.queued_at, q.automated
    ).subquery("open_cases")


def _doc_type(application_id: Any) -> Any:
    """The document type of an application's latest id_document (a scalar subquery)."""
    doc = IdDocument
    return (
        sa.select(doc.doc_type)
        .where(doc.application_id == application_id)
        .order_by(doc.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def _reg_type(application_id: Any) -> Any:
    """The registration type typed on the form (a scalar subquery)."""
    a = ApplicationRow
    return (
        sa.select(a.form["registration"]["type"].astext)
        .where(a.application_id == application_id)
        .scalar_subquery()
    )


def _assignee(application_id: Any) -> Any:
    """The username of whoever has claimed the case, or NULL (a scalar subquery)."""
    return (
        sa.select(ConsoleUser.username)
        .join(ReviewAssignment, ReviewAssignment.console_user_id == ConsoleUser.console_user_id)
        .where(ReviewAssignment.application_id == application_id)
        .scalar_subquery()
    )


def _filtered(filters: QueueFilters, *, now: dt.datetime, sla_hours: float) -> Any:
    """The open cases that match ``filters`` (application id, version, reasons, ...)."""
    cases = _open_cases()
    stmt = sa.select(cases)
    queued_at, app_id = cases.c.queued_at, cases.c.application_id
    if filters.reason:
        stmt = stmt.where(
            sa.or_(cases.c.reasons.any(filters.reason), cases.c.automated.any(filters.reason))
        )
    if filters.doc_type:
        stmt = stmt.where(_doc_type(app_id) == filters.doc_type)
    if filters.reg_type:
        stmt = stmt.where(_reg_type(app_id) == filters.reg_type)
    claimed = sa.exists().where(ReviewAssignment.application_id == app_id)
    if filters.assignee == "unassigned":
        stmt = stmt.where(~claimed)
    elif filters.assignee:
        stmt = stmt.where(_assignee(app_id) == filters.assignee)
    if filters.age == "overdue":
        stmt = stmt.where(queued_at < now - dt.timedelta(hours=sla_hours))
    elif filters.age == "over_4h":
        stmt = stmt.where(queued_at < now - dt.timedelta(hours=4))
    elif filters.age == "over_24h":
        stmt = stmt.where(queued_at < now - dt.timedelta(hours=24))
    elif filters.age == "under_4h":
        stmt = stmt.where(queued_at >= now - dt.timedelta(hours=4))
    return stmt


def queue(
    session: Session,
    filters: QueueFilters,
    *,
    now: dt.datetime,
    sla_hours: float,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> tuple[list[QueueRow], int]:
    """Open MANUAL_REVIEW cases, oldest first, and how many match the filters."""
    matching = _filtered(filters, now=now, sla_hours=sla_hours).subquery("matching")
    # One page is chosen first; only its rows are joined to their names and documents.
    # The count rides along on every row (one statement, one pass over the open cases).
    page = (
        sa.select(matching, sa.func.count().over().label("total"))
        .order_by(matching.c.queued_at, matching.c.application_id)
        .offset(offset)
        .limit(limit)
        .subquery("page")
    )
    rows = session.execute(
        sa.select(
            page,
            _doc_type(page.c.application_id).label("doc_type"),
            _reg_type(page.c.application_id).label("reg_type"),
            _assignee(page.c.application_id).label("assignee"),
            (User.first_name + " " + User.last_name).label("applicant"),
        )
        .join(User, User.user_id == page.c.user_id)
        .order_by(page.c.queued_at, page.c.application_id)
    ).all()
    if rows:
        total = int(rows[0].total)
    else:  # past the last page (or nothing matches): count apart
        total = session.execute(sa.select(sa.func.count()).select_from(matching)).scalar_one()
    return [
        QueueRow(
            application_id=r.application_id,
            version=r.version,
            reasons=list(r.reasons),
            queued_at=r.queued_at,
            doc_type=r.doc_type,
            reg_type=r.reg_type,
            assignee=r.assignee,
            applicant=r.applicant,
            escalated="ESCALATED" in r.reasons,
            automated=list(r.automated or []),
        )
        for r in rows
    ], int(total)


def queue_counts(session: Session, *, now: dt.datetime, sla_hours: float) -> dict[str, int]:
    """Open, unassigned, overdue and escalated case counts (the queue's header)."""
    cases = _open_cases()
    claimed = sa.exists().where(ReviewAssignment.application_id == cases.c.application_id)
    row = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(~claimed),
            sa.func.count().filter(cases.c.queued_at < now - dt.timedelta(hours=sla_hours)),
            sa.func.count().filter(cases.c.reasons.any("ESCALATED")),
        ).select_from(cases)
    ).one()
    return {"open": row[0], "unassigned": row[1], "overdue": row[2], "escalated": row[3]}


# --------------------------------------------------------------------------------------
# one case
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """Everything stored about one application, as plain values (for the case page)."""

    application_id: str
    user_id: uuid.UUID
    user_status: str
    landing_uri: str
    input_fingerprint: str
    form: dict[str, Any]
    received_at: dt.datetime
    documents: list[dict[str, Any]]
    selfies: list[dict[str, Any]]
    scans: list[dict[str, Any]]
    face_checks: list[dict[str, Any]]
    liveness: list[dict[str, Any]]
    registers: list[dict[str, Any]]
    licences: list[dict[str, Any]]
    quality: list[dict[str, Any]]
    decisions: list[repo.DecisionRow]
    audit: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    assignee: str | None
    assigned_at: dt.datetime | None
    pending_approval: dict[str, Any] | None
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def _rows(session: Session, model: Any, *where: Any, order: Any) -> list[dict[str, Any]]:
    cols = [c.key for c in model.__table__.columns]
    return [
        {c: getattr(obj, c) for c in cols}
        for obj in session.execute(sa.select(model).where(*where).order_by(order)).scalars()
    ]


#: Audit rows shown on a case page (the newest ones; older ones stay in the database).
AUDIT_LIMIT = 500


def case_record(session: Session, application_id: str) -> CaseRecord | None:
    """The whole stored record of one application; None when there is none."""
    app = session.get(ApplicationRow, application_id)
    if app is None:
        return None
    user = session.get(User, app.user_id)
    assert user is not None  # foreign key
    aid = application_id
    documents = _rows(
        session, IdDocument, IdDocument.application_id == aid, order=IdDocument.created_at
    )
    doc_ids = [d["id_document_id"] for d in documents]
    assignment = session.execute(
        sa.select(ReviewAssignment.assigned_at, ConsoleUser.username)
        .join(ConsoleUser, ConsoleUser.console_user_id == ReviewAssignment.console_user_id)
        .where(ReviewAssignment.application_id == aid)
    ).first()
    latest_version = session.execute(
        sa.select(sa.func.max(KycDecision.version)).where(KycDecision.application_id == aid)
    ).scalar()
    pending = session.get(ReviewApproval, (aid, latest_version)) if latest_version else None
    audit = _rows(session, AuditLog, AuditLog.application_id == aid, order=AuditLog.audit_id.desc())
    return CaseRecord(
        application_id=aid,
        user_id=app.user_id,
        user_status=user.status,
        landing_uri=app.landing_uri,
        input_fingerprint=app.input_fingerprint,
        form=dict(app.form),
        received_at=app.received_at,
        documents=documents,
        selfies=_rows(session, Selfie, Selfie.application_id == aid, order=Selfie.created_at),
        scans=_rows(
            session, DocScan, DocScan.id_document_id.in_(doc_ids), order=DocScan.created_at
        ),
        face_checks=_rows(
            session, FaceCheck, FaceCheck.application_id == aid, order=FaceCheck.created_at
        ),
        liveness=_rows(
            session,
            LivenessCheck,
            LivenessCheck.application_id == aid,
            order=LivenessCheck.created_at,
        ),
        registers=_rows(
            session, RegCheck, RegCheck.application_id == aid, order=RegCheck.checked_at
        ),
        licences=_rows(
            session, LicenceCheck, LicenceCheck.application_id == aid, order=LicenceCheck.checked_at
        ),
        quality=_rows(
            session, QualityCheck, QualityCheck.application_id == aid, order=QualityCheck.created_at
        ),
        decisions=repo.list_decisions(session, latest_only=False, application_id=aid),
        # newest AUDIT_LIMIT rows, shown oldest first
        audit=list(reversed(audit[:AUDIT_LIMIT])),
        notes=_rows(
            session, ReviewNote, ReviewNote.application_id == aid, order=ReviewNote.note_id
        ),
        assignee=assignment.username if assignment else None,
        assigned_at=assignment.assigned_at if assignment else None,
        pending_approval=(
            {"approver": pending.approver, "approved_at": pending.approved_at, "note": pending.note}
            if pending is not None
            else None
        ),
        outcomes=_rows(
            session,
            ReviewOutcome,
            ReviewOutcome.application_id == aid,
            order=ReviewOutcome.decided_at,
        ),
    )


def duplicate_candidates(session: Session, user_ids: list[str]) -> list[dict[str, Any]]:
    """For each earlier user a duplicate match names: their applications and selfies."""
    ids = []
    for raw in user_ids:
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            continue
    if not ids:
        return []
    rows = session.execute(
        sa.select(
            User.user_id,
            User.first_name,
            User.last_name,
            User.status,
            Selfie.application_id,
            Selfie.object_key,
            ApplicationRow.landing_uri,
        )
        .join(Selfie, Selfie.user_id == User.user_id)
        .join(ApplicationRow, ApplicationRow.application_id == Selfie.application_id)
        .where(User.user_id.in_(ids))
        .order_by(Selfie.created_at.desc())
    ).all()
    seen: set[str] = set()
    out = []
    for r in rows:
        if r.application_id in seen:
            continue
        seen.add(r.application_id)
        out.append(
            {
                "user_id": str(r.user_id),
                "name": f"{r.first_name} {r.last_name}",
                "status": r.status,
                "application_id": r.application_id,
                "selfie_key": r.object_key,
                "landing_uri": r.landing_uri,
            }
        )
    return out


# --------------------------------------------------------------------------------------
# writes (the caller holds the application lock: repository.lock_application)
# --------------------------------------------------------------------------------------


def lock_application(session: Session, application_id: str) -> None:
    """Serialise review actions (and the pipeline's decisions) on one application."""
    repo.lock_application(session, application_id)


def latest_decision(session: Session, application_id: str) -> repo.DecisionRow | None:
    """The application's latest decision version."""
    rows = repo.list_decisions(session, application_id=application_id)
    return rows[0] if rows else None


def latest_pipeline_decision(session: Session, application_id: str) -> repo.DecisionRow | None:
    """The rules' latest decision on the application (what reviewers review)."""
    rows = [
        r
        for r in repo.list_decisions(session, latest_only=False, application_id=application_id)
        if r.source == "pipeline"
    ]
    return rows[-1] if rows else None


def assignment(session: Session, application_id: str) -> tuple[str, dt.datetime] | None:
    """(assignee username, assigned at) of a case, or None."""
    row = session.execute(
        sa.select(ConsoleUser.username, ReviewAssignment.assigned_at)
        .join(ConsoleUser, ConsoleUser.console_user_id == ReviewAssignment.console_user_id)
        .where(ReviewAssignment.application_id == application_id)
    ).first()
    return (row[0], row[1]) if row else None


def set_assignment(
    session: Session, application_id: str, console_user_id: uuid.UUID | None, *, by: str
) -> None:
    """Assign a case to a console user (None: release it), with an audit row."""
    current = session.get(ReviewAssignment, application_id)
    before = None
    if current is not None:
        owner = session.get(ConsoleUser, current.console_user_id)
        before = owner.username if owner else None
        session.delete(current)
        session.flush()
    after = None
    if console_user_id is not None:
        session.add(
            ReviewAssignment(
                application_id=application_id, console_user_id=console_user_id, assigned_by=by
            )
        )
        owner = session.get(ConsoleUser, console_user_id)
        after = owner.username if owner else None
    repo.audit(
        session,
        application_id=application_id,
        entity="review_case",
        entity_id=application_id,
        action="assigned" if after else "released",
        from_state=before,
        to_state=after,
        detail={"by": by},
        actor=by,
    )
    session.flush()


def add_note(session: Session, application_id: str, author: str, body: str) -> None:
    """Store a reviewer's note (the body stays in review_notes, not in the audit log)."""
    note = ReviewNote(application_id=application_id, author=author, body=body)
    session.add(note)
    session.flush()
    repo.audit(
        session,
        application_id=application_id,
        entity="review_note",
        entity_id=note.note_id,
        action="noted",
        detail={"by": author},
        actor=author,
    )
    session.flush()


def pending_approval(session: Session, application_id: str, version: int) -> ReviewApproval | None:
    """The first approval waiting on this version (four-eyes), if any."""
    return session.get(ReviewApproval, (application_id, version))


def record_first_approval(
    session: Session, application_id: str, version: int, approver: str, note: str
) -> None:
    """Record a first approval that waits for a second approver."""
    session.add(
        ReviewApproval(
            application_id=application_id, decision_version=version, approver=approver, note=note
        )
    )
    repo.audit(
        session,
        application_id=application_id,
        entity="review_case",
        entity_id=application_id,
        action="first_approval",
        detail={"version": version, "by": approver},
        actor=approver,
    )
    session.flush()


def record_review_decision(
    session: Session,
    *,
    reviewed: repo.DecisionRow,
    user_id: uuid.UUID,
    input_fingerprint: str,
    outcome: Outcome,
    decision: str,
    reasons: list[str],
    reviewer_reasons: list[str],
    findings: list[dict[str, Any]],
    reviewers: list[str],
    automated: repo.DecisionRow,
    queued_at: dt.datetime,
    claimed_at: dt.datetime | None,
    now: dt.datetime,
) -> int:
    """Write the review's decision version, the feedback row and the audit; returns the version."""
    version = reviewed.version + 1
    row = KycDecision(
        decision_id=uuid.uuid4(),
        application_id=reviewed.application_id,
        user_id=user_id,
        version=version,
        decision=decision,
        reasons=reasons,
        findings=findings,
        scores=dict(reviewed.scores),
        engines=dict(reviewed.engines),
        input_fingerprint=input_fingerprint,
        decided_at=now,
        duplicate_of=list(reviewed.duplicate_of or []),
        source="review",
        reviewed_by=reviewers,
    )
    session.add(row)
    session.flush()
    repo.audit(
        session,
        application_id=reviewed.application_id,
        entity="kyc_decision",
        entity_id=row.decision_id,
        action="reviewed",
        from_state=reviewed.decision,
        to_state=decision,
        detail={
            "version": version,
            "reviewed_version": reviewed.version,
            "outcome": outcome.value,
            "reasons": reasons,
            "reviewers": reviewers,
        },
        actor=reviewers[-1],
    )
    repo.settle_application(
        session,
        application_id=reviewed.application_id,
        user_id=user_id,
        decision=decision,
        actor=reviewers[-1],
    )
    repo.enqueue_notification(session, reviewed.application_id, version, decision, reasons, now)
    session.add(
        ReviewOutcome(
            application_id=reviewed.application_id,
            reviewed_version=reviewed.version,
            automated_decision=automated.decision,
            automated_reasons=list(automated.reasons),
            outcome=outcome.value,
            decision_version=version,
            reviewer_reasons=reviewer_reasons,
            reviewers=reviewers,
            queued_at=queued_at,
            decided_at=now,
            time_in_queue_seconds=max(0.0, (now - queued_at).total_seconds()),
            time_to_decide_seconds=(
                max(0.0, (now - claimed_at).total_seconds()) if claimed_at is not None else None
            ),
        )
    )
    session.execute(
        sa.delete(ReviewApproval).where(ReviewApproval.application_id == reviewed.application_id)
    )
    session.flush()
    return version


def outcome_rows(session: Session, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every stored review outcome (for the statistics), oldest first."""
    where = [] if since is None else [ReviewOutcome.decided_at >= since]
    return _rows(session, ReviewOutcome, *where, order=ReviewOutcome.decided_at)


@dataclass(frozen=True, slots=True)
class ImageKeys:
    """Where an application's images are: its landing and the keys stored for it."""

    landing_uri: str
    front: str | None
    back: str | None
    selfie: str | None
    #: the latest scan's portrait box on the flattened front (None: no crop)
    portrait_box: tuple[int, int, int, int] | None = None


def image_keys(session: Session, application_id: str) -> ImageKeys | None:
    """The landing and the latest document and selfie keys of one application."""
    app = session.get(ApplicationRow, application_id)
    if app is None:
        return None
    doc = session.execute(
        sa.select(IdDocument.id_document_id, IdDocument.front_key, IdDocument.back_key)
        .where(IdDocument.application_id == application_id)
        .order_by(IdDocument.created_at.desc())
        .limit(1)
    ).first()
    box = (
        session.execute(
            sa.select(DocScan.portrait_box)
            .where(DocScan.id_document_id == doc.id_document_id)
            .order_by(DocScan.created_at.desc())
            .limit(1)
        ).scalar()
        if doc
        else None
    )
    selfie = session.execute(
        sa.select(Selfie.object_key)
        .where(Selfie.application_id == application_id)
        .order_by(Selfie.created_at.desc())
        .limit(1)
    ).scalar()
    return ImageKeys(
        landing_uri=app.landing_uri,
        front=doc.front_key if doc else None,
        back=doc.back_key if doc else None,
        selfie=selfie,
        portrait_box=(box[0], box[1], box[2], box[3]) if box and len(box) == 4 else None,
    )
