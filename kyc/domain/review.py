"""Manual review (pure): roles, the actions a reviewer can take, four-eyes, the SLA.

The review console (:mod:`kyc.web`) and ``kyc review-stats`` act through
:mod:`kyc.services.review`; the rules they enforce live here so that they can be
tested without a database or a browser, and so that the server (not the page)
decides what is allowed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kyc.domain.records import Decision, Reason


class Role(StrEnum):
    """Console roles, least to most privileged; each includes the ones before it."""

    VIEWER = "viewer"  # reads the queue and cases
    REVIEWER = "reviewer"  # claims cases, approves (first approval), rejects, resubmits
    APPROVER = "approver"  # the second approval under four-eyes; decides escalated cases
    ADMIN = "admin"  # assigns cases to others, manages accounts

    @property
    def rank(self) -> int:
        """Position in the order above (0 = viewer)."""
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        """True when this role includes ``needed``."""
        return self.rank >= needed.rank


class Action(StrEnum):
    """What a reviewer does to a case."""

    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_RESUBMISSION = "request_resubmission"
    ESCALATE = "escalate"


class Outcome(StrEnum):
    """What a review made of a case (``review_outcomes.outcome``)."""

    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    RESUBMISSION_REQUESTED = "RESUBMISSION_REQUESTED"
    ESCALATED = "ESCALATED"


#: The decision version each outcome writes, and the reason code it carries.
OUTCOME_DECISION: dict[Outcome, tuple[Decision, Reason]] = {
    Outcome.APPROVED: (Decision.PASS, Reason.REVIEW_APPROVED),
    Outcome.REJECTED: (Decision.FAIL, Reason.REVIEW_REJECTED),
    Outcome.RESUBMISSION_REQUESTED: (Decision.MANUAL_REVIEW, Reason.RESUBMISSION_REQUESTED),
    Outcome.ESCALATED: (Decision.MANUAL_REVIEW, Reason.ESCALATED),
}

#: Reasons a reviewer may give for a rejection (a fixed list: reports group on them).
REJECT_REASONS: dict[str, str] = {
    "DOCUMENT_FORGED": "The identity document looks forged or altered",
    "DOCUMENT_EXPIRED": "The identity document has expired",
    "DOCUMENT_UNREADABLE": "The identity document cannot be read",
    "FACE_MISMATCH": "The selfie is not the person on the document",
    "LIVENESS_FAILED": "The selfie is not of a live person (photo, screen or mask)",
    "IDENTITY_MISMATCH": "The form does not match the document",
    "DUPLICATE_IDENTITY": "The person already applied under another identity",
    "REGISTER_NOT_ACTIVE": "The professional registration is not active",
    "FRAUD_SUSPECTED": "Other signs of fraud (explain in the note)",
    "OTHER": "Another reason (explain in the note)",
}

#: Documents an applicant can be asked to send again.
RESUBMIT_DOCUMENTS: dict[str, str] = {
    "id_document": "the identity document (front)",
    "id_document_back": "the back of the identity document",
    "selfie": "the selfie",
}

#: An automated decision carrying one of these needs two approvers to be approved.
FOUR_EYES_REASONS = frozenset(
    {
        Reason.DUPLICATE_IDENTITY,
        Reason.DOCUMENT_INCONSISTENT,
        Reason.LIVENESS_FAILED,
        # A suspected replay is sent to review rather than failed (the heuristic
        # alone is not proof), so approving it is exactly where a fraud gets through.
        Reason.SELFIE_REPLAY_SUSPECTED,
    }
)

#: Reasons of review versions that keep a case open (it stays in, or returns to, the queue).
_REVIEW_REASONS = frozenset(
    {
        Reason.REVIEW_APPROVED,
        Reason.REVIEW_REJECTED,
        Reason.RESUBMISSION_REQUESTED,
        Reason.ESCALATED,
    }
)


class ReviewRefused(Exception):
    """The server refuses an action (the page shows ``str(error)``).

    Attributes:
        code: a stable identifier the web layer maps to an HTTP status
            (``forbidden`` 403, ``conflict`` 409, ``invalid`` 422, ``not_found`` 404).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def needs_four_eyes(automated_decision: str, automated_reasons: Iterable[str]) -> bool:
    """Does approving this automated decision need a second approver?

    Yes when the rules said FAIL, or when they saw a duplicate identity, an
    inconsistent document, a failed liveness check or a suspected replay: the
    cases where one reviewer's mistake would let a fraud through.
    """
    if automated_decision == Decision.FAIL:
        return True
    return any(code in {r.value for r in FOUR_EYES_REASONS} for code in automated_reasons)


def reviewable(latest_decision: str, latest_reasons: Iterable[str]) -> bool:
    """Can a reviewer act on a case whose latest version is this?

    MANUAL_REVIEW cases (including escalated ones) can be decided; an automated
    FAIL can be overturned (approved, under four-eyes). A case waiting for a
    resubmission, or already decided by a review, cannot be decided again.
    """
    reasons = set(latest_reasons)
    if Reason.RESUBMISSION_REQUESTED.value in reasons:
        return False
    if reasons & {Reason.REVIEW_APPROVED.value, Reason.REVIEW_REJECTED.value}:
        return False
    return latest_decision in (Decision.MANUAL_REVIEW.value, Decision.FAIL.value)


def escalated(latest_reasons: Iterable[str]) -> bool:
    """True when the latest version is an escalation (an approver must decide)."""
    return Reason.ESCALATED.value in set(latest_reasons)


def automated_reasons(reasons: Iterable[str]) -> list[str]:
    """The rules' reason codes among a version's (review codes left out)."""
    return [r for r in reasons if r not in {x.value for x in _REVIEW_REASONS}]


@dataclass(frozen=True, slots=True)
class ApprovalStep:
    """What an approval does: record a first approval, or decide the case."""

    decided: bool
    reviewers: tuple[str, ...]


def approval_step(
    *,
    four_eyes: bool,
    pending_first: str | None,
    actor: str,
    actor_role: Role,
) -> ApprovalStep:
    """Apply the four-eyes rule to one approval.

    Args:
        four_eyes: :func:`needs_four_eyes` of the case's automated decision.
        pending_first: the reviewer whose first approval waits, if any.
        actor: who approves now.
        actor_role: their role.

    Raises:
        ReviewRefused: the same person approves twice, or the second approver is
            not an approver.
    """
    if not four_eyes:
        return ApprovalStep(decided=True, reviewers=(actor,))
    if pending_first is None:
        return ApprovalStep(decided=False, reviewers=(actor,))
    if pending_first == actor:
        raise ReviewRefused(
            "forbidden",
            "four-eyes: you gave the first approval; a second approver who is not you must approve",
        )
    if not actor_role.allows(Role.APPROVER):
        raise ReviewRefused("forbidden", "four-eyes: the second approval needs the approver role")
    return ApprovalStep(decided=True, reviewers=(pending_first, actor))


def validate_action(
    action: Action,
    *,
    reasons: Iterable[str] = (),
    note: str = "",
    document: str | None = None,
) -> tuple[list[str], str, str | None]:
    """Check an action's inputs; returns (reasons, note, document) cleaned.

    Raises:
        ReviewRefused: a rejection without a reason from :data:`REJECT_REASONS`, an
            unknown reason, "OTHER" or "FRAUD_SUSPECTED" without a note, a
            resubmission without a known document, an escalation without a note.
    """
    codes = list(dict.fromkeys(r.strip() for r in reasons if r.strip()))
    note = note.strip()
    if len(note) > 4000:
        raise ReviewRefused("invalid", "the note is longer than 4000 characters")
    if action is Action.REJECT:
        if not codes:
            raise ReviewRefused("invalid", "a rejection needs at least one reason")
        unknown = [c for c in codes if c not in REJECT_REASONS]
        if unknown:
            raise ReviewRefused("invalid", f"unknown rejection reason(s): {', '.join(unknown)}")
        if {"OTHER", "FRAUD_SUSPECTED"} & set(codes) and not note:
            raise ReviewRefused("invalid", "explain OTHER / FRAUD_SUSPECTED in the note")
        return codes, note, None
    if codes:
        raise ReviewRefused(
            "invalid", f"reason codes are given with a rejection only, not {action}"
        )
    if action is Action.REQUEST_RESUBMISSION:
        if document not in RESUBMIT_DOCUMENTS:
            raise ReviewRefused(
                "invalid", f"name the document to resubmit: one of {', '.join(RESUBMIT_DOCUMENTS)}"
            )
        return [], note, document
    if action is Action.ESCALATE and not note:
        raise ReviewRefused("invalid", "say why the case is escalated (note)")
    return [], note, None


def sla_due(queued_at: dt.datetime, sla_hours: float) -> dt.datetime:
    """When a case queued at ``queued_at`` becomes overdue."""
    return queued_at + dt.timedelta(hours=sla_hours)


#: Plain words for every reason code (the case page's findings, the stats page).
PLAIN_WORDS: dict[str, str] = {
    Reason.NAME_MISMATCH: "The name on the document differs from the form",
    Reason.NAME_VARIANT: "The name differs only in a common variant (accepted)",
    Reason.DOB_MISMATCH: "The date of birth on the document differs from the form",
    Reason.DOCUMENT_NUMBER_MISMATCH: "The document number differs from the form",
    Reason.EXPIRY_MISMATCH: "The expiry date on the document differs from the form",
    Reason.DOCUMENT_EXPIRED: "The document has expired",
    Reason.DOCUMENT_UNREADABLE: "The document could not be read",
    Reason.DOCUMENT_FIELD_MISSING: "A required field was not found on the document",
    Reason.DOCUMENT_LOW_CONFIDENCE: "Some fields were read with low confidence",
    Reason.DOCUMENT_INCONSISTENT: (
        "The document's zones disagree with each other (possible tampering)"
    ),
    Reason.DATA_QUALITY_FAILED: "The extracted data failed the data-quality checks",
    Reason.FACE_MISMATCH: "The selfie does not match the document portrait",
    Reason.FACE_INCONCLUSIVE: "The face comparison was inconclusive",
    Reason.FACE_NOT_FOUND: "No face was found on the document or the selfie",
    Reason.FACE_QUALITY_LOW: "A face image is too poor to compare",
    Reason.SELFIE_UNREADABLE: "The selfie could not be read",
    Reason.LIVENESS_FAILED: "The selfie failed the liveness check (replay or spoof suspected)",
    Reason.LIVENESS_NOT_ASSESSED: "Liveness was not assessed",
    Reason.SELFIE_REPLAY_SUSPECTED: (
        "The selfie may be a photo of the document, a print or a screen (check it)"
    ),
    Reason.REGISTER_NOT_CHECKED: "The professional register was not checked",
    Reason.REGISTER_NOT_FOUND: "The registration number was not found on the register",
    Reason.REGISTER_NOT_ACTIVE: "The registration is not active",
    Reason.REGISTER_CONDITIONS: "The registration carries conditions",
    Reason.REGISTER_UNAVAILABLE: "The register could not be reached",
    Reason.REGISTER_NUMBER_INVALID: "The registration number is malformed",
    Reason.REGISTER_NAME_MISMATCH: "The name on the register differs from the form",
    Reason.LICENCE_NOT_VERIFIED: "The driving licence could not be verified",
    Reason.LICENCE_DATA_MISMATCH: "The licence service disagrees with the document",
    Reason.DUPLICATE_IDENTITY: "The same face is on file under another identity",
    Reason.DUPLICATE_NOT_CHECKED: "Duplicate identities were not checked",
    Reason.ENGINE_ERROR: "An engine failed; the case could not be decided automatically",
    Reason.REVIEW_APPROVED: "Approved by review",
    Reason.REVIEW_REJECTED: "Rejected by review",
    Reason.RESUBMISSION_REQUESTED: "A document was requested again from the applicant",
    Reason.ESCALATED: "Escalated to an approver",
}


def plain_words(code: str) -> str:
    """The sentence for a reason code (the code itself when unknown)."""
    return PLAIN_WORDS.get(code) or REJECT_REASONS.get(code) or code
