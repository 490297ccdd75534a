"""Review-console rules (pure): which approvals need a second approver, and the approval step."""

from __future__ import annotations

import pytest

from kyc.domain.records import Reason
from kyc.domain.review import (
    ReviewRefused,
    Role,
    approval_step,
    automated_reasons,
    needs_four_eyes,
)


@pytest.mark.parametrize(
    "reason",
    [
        Reason.DUPLICATE_IDENTITY,
        Reason.DOCUMENT_INCONSISTENT,
        Reason.LIVENESS_FAILED,
        Reason.SELFIE_REPLAY_SUSPECTED,
    ],
)
def test_fraud_signals_need_two_approvers(reason: Reason) -> None:
    assert needs_four_eyes("MANUAL_REVIEW", ["FACE_INCONCLUSIVE", reason.value])


def test_ordinary_review_cases_need_one_approver() -> None:
    assert not needs_four_eyes("MANUAL_REVIEW", ["FACE_INCONCLUSIVE", "LIVENESS_NOT_ASSESSED"])


def test_overturning_a_fail_needs_two_approvers() -> None:
    assert needs_four_eyes("FAIL", ["DOCUMENT_EXPIRED"])


def test_review_codes_are_not_the_rules_reasons() -> None:
    assert automated_reasons(["ESCALATED", "SELFIE_REPLAY_SUSPECTED"]) == [
        "SELFIE_REPLAY_SUSPECTED"
    ]
    # An escalated replay suspicion still needs the second approver.
    assert needs_four_eyes(
        "MANUAL_REVIEW", automated_reasons(["ESCALATED", "SELFIE_REPLAY_SUSPECTED"])
    )


def test_four_eyes_approval_takes_two_different_people() -> None:
    first = approval_step(four_eyes=True, pending_first=None, actor="ann", actor_role=Role.REVIEWER)
    assert not first.decided
    with pytest.raises(ReviewRefused, match="second approver who is not you"):
        approval_step(four_eyes=True, pending_first="ann", actor="ann", actor_role=Role.APPROVER)
    with pytest.raises(ReviewRefused, match="approver role"):
        approval_step(four_eyes=True, pending_first="ann", actor="bob", actor_role=Role.REVIEWER)
    second = approval_step(
        four_eyes=True, pending_first="ann", actor="bob", actor_role=Role.APPROVER
    )
    assert second.decided and second.reviewers == ("ann", "bob")


def test_one_approver_decides_an_ordinary_case() -> None:
    step = approval_step(four_eyes=False, pending_first=None, actor="ann", actor_role=Role.REVIEWER)
    assert step.decided and step.reviewers == ("ann",)
