"""Manual review: the queue, one case, the reviewers' actions and what they teach.

Every action runs in one transaction under the application's lock (the same lock
the pipeline takes to write a decision), and names the version it acts on: two
reviewers racing on one case get one decision and one "the case changed" refusal.
Each outcome is a new decision version (``source = 'review'``) with a feedback row
(``review_outcomes``) and audit rows, notified like any decision once committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from kyc import metrics
from kyc.db import review as store
from kyc.db.engine import session_scope
from kyc.db.models import ApplicationRow, ConsoleUser
from kyc.domain.review import (
    OUTCOME_DECISION,
    RESUBMIT_DOCUMENTS,
    Action,
    Outcome,
    ReviewRefused,
    Role,
    approval_step,
    automated_reasons,
    escalated,
    needs_four_eyes,
    reviewable,
    validate_action,
)
from kyc.runtime import Runtime
from kyc.services.notify import notify_row

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reviewer:
    """The console user acting (from their session)."""

    username: str
    role: Role
    console_user_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did.

    Attributes:
        outcome: the review outcome written, or None (a first approval under four-eyes,
            a claim, a note).
        version: the new decision version, when one was written.
        message: one sentence for the reviewer.
        notified: ``channel:DELIVERED|FAILED`` per channel told about the new version.
    """

    application_id: str
    message: str
    outcome: Outcome | None = None
    version: int | None = None
    notified: list[str] = field(default_factory=list)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _need(reviewer: Reviewer, role: Role, what: str) -> None:
    if not reviewer.role.allows(role):
        raise ReviewRefused("forbidden", f"{what} needs the {role} role (you are {reviewer.role})")


def _open_case(session: Any, application_id: str, expected_version: int | None) -> Any:
    """Lock the application and return its latest decision, checking it is the expected one."""
    store.lock_application(session, application_id)
    latest = store.latest_decision(session, application_id)
    if latest is None:
        raise ReviewRefused("not_found", f"no decided application {application_id!r}")
    if expected_version is not None and latest.version != expected_version:
        raise ReviewRefused(
            "conflict",
            f"the case changed while you were looking at it (now version {latest.version},"
            f" you saw {expected_version}): reload it",
        )
    return latest


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


def queue(
    rt: Runtime,
    filters: store.QueueFilters,
    *,
    page: int = 1,
    now: dt.datetime | None = None,
) -> tuple[list[store.QueueRow], int, dict[str, int]]:
    """One page of the queue, the number of cases matching, and the header counts."""
    now = now or _now()
    hours = rt.settings.review_sla_hours
    with session_scope(rt.db) as s:
        rows, total = store.queue(
            s,
            filters,
            now=now,
            sla_hours=hours,
            offset=(max(page, 1) - 1) * store.PAGE_SIZE,
            limit=store.PAGE_SIZE,
        )
        counts = store.queue_counts(s, now=now, sla_hours=hours)
    return rows, total, counts


def case(rt: Runtime, application_id: str) -> tuple[store.CaseRecord, list[dict[str, Any]]] | None:
    """One case's whole record and its duplicate-identity candidates; None if unknown."""
    with session_scope(rt.db) as s:
        record = store.case_record(s, application_id)
        if record is None:
            return None
        matched = [
            str(m.get("user_id"))
            for d in record.decisions
            for m in (d.duplicate_of or [])
            if m.get("user_id")
        ]
        candidates = store.duplicate_candidates(s, list(dict.fromkeys(matched)))
    return record, candidates


# --------------------------------------------------------------------------------------
# claims and notes
# --------------------------------------------------------------------------------------


def claim(rt: Runtime, reviewer: Reviewer, application_id: str) -> ActionResult:
    """Take an open case; refused when someone else has it or it is decided."""
    _need(reviewer, Role.REVIEWER, "claiming a case")
    with session_scope(rt.db) as s:
        latest = _open_case(s, application_id, None)
        if not reviewable(latest.decision, latest.reasons) or latest.decision != "MANUAL_REVIEW":
            raise ReviewRefused("conflict", "the case is not open for review")
        if escalated(latest.reasons):
            # Only an approver can decide it: a reviewer's claim would only block it.
            _need(reviewer, Role.APPROVER, "claiming an escalated case")
        held = store.assignment(s, application_id)
        if held is not None and held[0] != reviewer.username:
            raise ReviewRefused("conflict", f"{held[0]} has claimed this case")
        if held is None:
            store.set_assignment(s, application_id, reviewer.console_user_id, by=reviewer.username)
    return ActionResult(application_id, "you have claimed the case")


def assign(
    rt: Runtime, reviewer: Reviewer, application_id: str, username: str | None
) -> ActionResult:
    """Assign a case to someone (admin), or release it (None)."""
    with session_scope(rt.db) as s:
        latest = _open_case(s, application_id, None)
        held = store.assignment(s, application_id)
        if username is None:
            if held is not None and held[0] != reviewer.username:
                _need(reviewer, Role.ADMIN, "releasing someone else's case")
            if held is not None:
                store.set_assignment(s, application_id, None, by=reviewer.username)
            return ActionResult(application_id, "the case is released")
        _need(reviewer, Role.ADMIN, "assigning a case")
        if not reviewable(latest.decision, latest.reasons):
            raise ReviewRefused("conflict", "a decided case cannot be re-assigned")
        target = s.execute(
            sa.select(ConsoleUser).where(
                ConsoleUser.username == username, ConsoleUser.disabled_at.is_(None)
            )
        ).scalar_one_or_none()
        if target is None or not Role(target.role).allows(Role.REVIEWER):
            raise ReviewRefused("invalid", f"{username!r} is not an active reviewer")
        store.set_assignment(s, application_id, target.console_user_id, by=reviewer.username)
    return ActionResult(application_id, f"the case is assigned to {username}")


def release(rt: Runtime, reviewer: Reviewer, application_id: str) -> ActionResult:
    """Give a claimed case back to the queue."""
    return assign(rt, reviewer, application_id, None)


def add_note(rt: Runtime, reviewer: Reviewer, application_id: str, body: str) -> ActionResult:
    """Add a note to a case (any reviewer)."""
    _need(reviewer, Role.REVIEWER, "adding a note")
    body = body.strip()
    if not body:
        raise ReviewRefused("invalid", "the note is empty")
    if len(body) > 4000:
        raise ReviewRefused("invalid", "the note is longer than 4000 characters")
    with session_scope(rt.db) as s:
        _open_case(s, application_id, None)
        store.add_note(s, application_id, reviewer.username, body)
    return ActionResult(application_id, "note added")


# --------------------------------------------------------------------------------------
# deciding
# --------------------------------------------------------------------------------------


def act(
    rt: Runtime,
    reviewer: Reviewer,
    application_id: str,
    action: Action,
    *,
    expected_version: int,
    reasons: list[str] | tuple[str, ...] = (),
    note: str = "",
    document: str | None = None,
    now: dt.datetime | None = None,
) -> ActionResult:
    """Approve, reject, ask for a document again, or escalate one case.

    Args:
        rt: the runtime.
        reviewer: who acts.
        application_id: the case.
        action: what they do.
        expected_version: the decision version the reviewer was looking at; if the
            case moved on since (another reviewer, a new landing), nothing happens.
        reasons: rejection reason codes (:data:`kyc.domain.review.REJECT_REASONS`).
        note: the reviewer's note (kept in ``review_notes``).
        document: the document to resubmit (:data:`kyc.domain.review.RESUBMIT_DOCUMENTS`).
        now: the time of the decision (tests).

    Raises:
        ReviewRefused: not allowed (role, four-eyes, claimed by another), the case
            changed or is not open, or the inputs are invalid.
    """
    _need(reviewer, Role.REVIEWER, f"{action}")
    codes, note, document = validate_action(action, reasons=reasons, note=note, document=document)
    now = now or _now()
    with session_scope(rt.db) as s:
        latest = _open_case(s, application_id, expected_version)
        if not reviewable(latest.decision, latest.reasons):
            raise ReviewRefused("conflict", "the case is already decided or awaits a resubmission")
        if escalated(latest.reasons):
            _need(reviewer, Role.APPROVER, "deciding an escalated case")
        held = store.assignment(s, application_id)
        if (
            held is not None
            and held[0] != reviewer.username
            and not reviewer.role.allows(Role.APPROVER)
        ):
            raise ReviewRefused("conflict", f"{held[0]} has claimed this case")
        automated = store.latest_pipeline_decision(s, application_id) or latest
        if note:
            store.add_note(s, application_id, reviewer.username, note)
        if action is Action.APPROVE:
            four_eyes = needs_four_eyes(automated.decision, automated_reasons(automated.reasons))
            pending = store.pending_approval(s, application_id, latest.version)
            step = approval_step(
                four_eyes=four_eyes,
                pending_first=pending.approver if pending is not None else None,
                actor=reviewer.username,
                actor_role=reviewer.role,
            )
            if not step.decided:
                store.record_first_approval(
                    s, application_id, latest.version, reviewer.username, note
                )
                return ActionResult(
                    application_id,
                    "first approval recorded: four-eyes applies, a second approver must approve",
                )
            outcome, reviewers = Outcome.APPROVED, list(step.reviewers)
        elif action is Action.REJECT:
            outcome, reviewers = Outcome.REJECTED, [reviewer.username]
        elif action is Action.REQUEST_RESUBMISSION:
            outcome, reviewers = Outcome.RESUBMISSION_REQUESTED, [reviewer.username]
        else:
            outcome, reviewers = Outcome.ESCALATED, [reviewer.username]
        decision, code = OUTCOME_DECISION[outcome]
        findings = [_finding(outcome, code.value, reviewers, codes, document)]
        app = s.get(ApplicationRow, application_id)
        assert app is not None  # a decision exists, so does its application
        version = store.record_review_decision(
            s,
            reviewed=latest,
            user_id=app.user_id,
            input_fingerprint=latest.input_fingerprint,  # a review decides on the same objects
            outcome=outcome,
            decision=decision.value,
            reasons=[code.value, *codes],
            reviewer_reasons=codes
            if outcome is not Outcome.RESUBMISSION_REQUESTED
            else [document or ""],
            findings=findings,
            reviewers=reviewers,
            automated=automated,
            queued_at=automated.decided_at,
            claimed_at=held[1] if held is not None else None,
            now=now,
        )
        # A decided case leaves its reviewer's hands; an escalated one waits for an approver.
        if held is not None:
            store.set_assignment(s, application_id, None, by=reviewer.username)
        row = store.latest_decision(s, application_id)
    assert row is not None
    metrics.count_decision(row.decision, row.reasons, source="review")
    notified = notify_row(rt, row)
    return ActionResult(
        application_id,
        f"{outcome.value.replace('_', ' ').lower()}: decision version {version}",
        outcome=outcome,
        version=version,
        notified=notified,
    )


def _finding(
    outcome: Outcome, code: str, reviewers: list[str], codes: list[str], document: str | None
) -> dict[str, str]:
    """The review version's finding: who did what (no note text: notes may hold PII)."""
    by = " and ".join(reviewers)
    if outcome is Outcome.APPROVED:
        detail = f"approved by {by}"
    elif outcome is Outcome.REJECTED:
        detail = f"rejected by {by}: {', '.join(codes)}"
    elif outcome is Outcome.RESUBMISSION_REQUESTED:
        detail = f"{by} asked the applicant for {RESUBMIT_DOCUMENTS.get(document or '', document)}"
    else:
        detail = f"escalated by {by}"
    severity = {"PASS": "WARNING", "FAIL": "FAIL"}.get(OUTCOME_DECISION[outcome][0].value, "REVIEW")
    return {"code": code, "detail": detail, "severity": severity}


# --------------------------------------------------------------------------------------
# feedback: what reviewers made of each automated reason
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonStats:
    """Reviewers' outcomes on automated decisions that carried one reason code."""

    reason: str
    reviewed: int
    approved: int
    rejected: int
    resubmission: int
    escalated: int

    @property
    def approval_rate(self) -> float | None:
        """Approved among approved + rejected (None before any final outcome)."""
        final = self.approved + self.rejected
        return self.approved / final if final else None


@dataclass(frozen=True, slots=True)
class ReviewerStats:
    """One reviewer's throughput."""

    reviewer: str
    outcomes: int
    median_seconds_to_decide: float | None


@dataclass(frozen=True, slots=True)
class ReviewStats:
    """The feedback report (``kyc review-stats`` and the console's statistics page)."""

    outcomes: int
    by_reason: list[ReasonStats]
    median_seconds_in_queue: float | None
    reviewers: list[ReviewerStats]
    by_outcome: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "outcomes": self.outcomes,
            "by_outcome": dict(self.by_outcome),
            "median_seconds_in_queue": self.median_seconds_in_queue,
            "by_reason": [
                {
                    "reason": r.reason,
                    "reviewed": r.reviewed,
                    "approved": r.approved,
                    "rejected": r.rejected,
                    "resubmission_requested": r.resubmission,
                    "escalated": r.escalated,
                    "approval_rate": r.approval_rate,
                }
                for r in self.by_reason
            ],
            "reviewers": [
                {
                    "reviewer": r.reviewer,
                    "outcomes": r.outcomes,
                    "median_seconds_to_decide": r.median_seconds_to_decide,
                }
                for r in self.reviewers
            ],
        }


def review_stats(rt: Runtime, since: dt.datetime | None = None) -> ReviewStats:
    """How often reviewers approved or rejected each automated reason; time in queue; throughput."""
    with session_scope(rt.db) as s:
        rows = store.outcome_rows(s, since)
    return summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> ReviewStats:
    """The statistics of a list of ``review_outcomes`` rows (pure)."""
    per_reason: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        for code in automated_reasons(row["automated_reasons"]) or ["(none)"]:
            per_reason[code][row["outcome"]] += 1
    by_reason = sorted(
        (
            ReasonStats(
                reason=code,
                reviewed=sum(c.values()),
                approved=c[Outcome.APPROVED],
                rejected=c[Outcome.REJECTED],
                resubmission=c[Outcome.RESUBMISSION_REQUESTED],
                escalated=c[Outcome.ESCALATED],
            )
            for code, c in per_reason.items()
        ),
        key=lambda r: (-r.reviewed, r.reason),
    )
    per_reviewer: dict[str, list[float]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for row in rows:
        for name in row["reviewers"]:
            counts[name] += 1
            if row["time_to_decide_seconds"] is not None:
                per_reviewer[name].append(float(row["time_to_decide_seconds"]))
    reviewers = [
        ReviewerStats(
            name,
            counts[name],
            statistics.median(per_reviewer[name]) if per_reviewer[name] else None,
        )
        for name in sorted(counts, key=lambda n: (-counts[n], n))
    ]
    queued = [float(r["time_in_queue_seconds"]) for r in rows]
    return ReviewStats(
        outcomes=len(rows),
        by_reason=by_reason,
        median_seconds_in_queue=statistics.median(queued) if queued else None,
        reviewers=reviewers,
        by_outcome=dict(Counter(r["outcome"] for r in rows)),
    )
