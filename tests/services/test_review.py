"""The review service on a real database: queue, claims, actions, four-eyes, races, stats."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from types import MappingProxyType

import pytest

from kyc.db.engine import session_scope
from kyc.db.models import ConsoleUser
from kyc.db.review import QueueFilters
from kyc.domain.records import DocumentScan, Finding, Reason
from kyc.domain.review import Action, Outcome, ReviewRefused, Role
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import decide
from kyc.services import review as svc
from kyc.storage.local import LocalStore
from tests.services.conftest import land, open_landed, rows

pytestmark = pytest.mark.db


def reviewer(rt: Runtime, role: Role, name: str | None = None) -> svc.Reviewer:
    """A console account of ``role`` (rows written directly: accounts are not under test)."""
    name = name or f"{role}-{uuid.uuid4().hex[:6]}"
    user = ConsoleUser(username=name, display_name=name.title(), role=role.value)
    with session_scope(rt.db) as s:
        s.add(user)
        s.flush()
        uid = user.console_user_id
    return svc.Reviewer(name, role, uid)


def queued_case(rt: Runtime, landing: Path, shared: Path, *extra: Reason) -> str:
    """A MANUAL_REVIEW decision (nothing read from the document), with extra findings."""
    landed = land(LocalStore(landing), shared, identity=8)
    case = open_landed(rt, str(landing), landed.application_id)
    signals = Signals(
        case.application,
        DocumentScan(fields=MappingProxyType({})),
        None,
        None,
        extra_findings=tuple(Finding(r, "test") for r in extra),
    )
    result = decide.decide_application(rt, case, signals)
    assert result.decision.value == "MANUAL_REVIEW", result
    return case.application_id


def latest(rt: Runtime, app_id: str) -> dict[str, object]:
    (row,) = rows(
        rt,
        "SELECT version, decision::text AS decision, reasons, source, reviewed_by"
        " FROM kyc_decisions WHERE application_id = :a ORDER BY version DESC LIMIT 1",
        a=app_id,
    )
    return dict(row._mapping)


def test_queue_claim_reject_leaves_the_queue_with_a_review_version(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = queued_case(rt, landing, shared_data)
    alice, bob = reviewer(rt, Role.REVIEWER), reviewer(rt, Role.REVIEWER)
    page, total, counts = svc.queue(rt, QueueFilters(assignee="unassigned"))
    assert app_id in [r.application_id for r in page]
    assert total >= 1 and counts["open"] >= 1

    svc.claim(rt, alice, app_id)
    with pytest.raises(ReviewRefused, match="has claimed"):
        svc.claim(rt, bob, app_id)
    mine, _, _ = svc.queue(rt, QueueFilters(assignee=alice.username))
    assert [r.application_id for r in mine] == [app_id]
    with pytest.raises(ReviewRefused, match="has claimed"):
        svc.act(rt, bob, app_id, Action.REJECT, expected_version=1, reasons=["DOCUMENT_FORGED"])

    done = svc.act(
        rt, alice, app_id, Action.REJECT, expected_version=1, reasons=["DOCUMENT_FORGED"], note="x"
    )
    assert done.outcome is Outcome.REJECTED and done.version == 2
    assert latest(rt, app_id) == {
        "version": 2,
        "decision": "FAIL",
        "reasons": ["REVIEW_REJECTED", "DOCUMENT_FORGED"],
        "source": "review",
        "reviewed_by": [alice.username],
    }
    (user,) = rows(
        rt,
        "SELECT u.status::text AS status FROM users u JOIN applications a USING (user_id)"
        " WHERE a.application_id = :a",
        a=app_id,
    )
    assert user.status == "REJECTED"
    (outcome,) = rows(rt, "SELECT * FROM review_outcomes WHERE application_id = :a", a=app_id)
    assert outcome.outcome == "REJECTED" and outcome.reviewer_reasons == ["DOCUMENT_FORGED"]
    assert outcome.automated_decision == "MANUAL_REVIEW" and outcome.reviewed_version == 1
    assert outcome.time_to_decide_seconds is not None
    assert app_id not in [r.application_id for r in svc.queue(rt, QueueFilters())[0]]
    # decided: a second decision and a re-assignment are refused
    with pytest.raises(ReviewRefused):
        svc.act(rt, alice, app_id, Action.APPROVE, expected_version=2)
    admin = reviewer(rt, Role.ADMIN)
    with pytest.raises(ReviewRefused, match="re-assigned"):
        svc.assign(rt, admin, app_id, alice.username)
    actions = [
        r.action
        for r in rows(rt, "SELECT action FROM audit_log WHERE application_id = :a", a=app_id)
    ]
    assert {"assigned", "noted", "reviewed", "released"} <= set(actions)


def test_four_eyes_needs_a_second_approver_who_is_not_the_first(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = queued_case(rt, landing, shared_data, Reason.DOCUMENT_INCONSISTENT)
    first = reviewer(rt, Role.APPROVER)
    second_reviewer = reviewer(rt, Role.REVIEWER)
    second = reviewer(rt, Role.APPROVER)

    step = svc.act(rt, first, app_id, Action.APPROVE, expected_version=1)
    assert step.outcome is None and "second approver" in step.message
    assert latest(rt, app_id)["version"] == 1
    with pytest.raises(ReviewRefused, match="not you"):
        svc.act(rt, first, app_id, Action.APPROVE, expected_version=1)
    with pytest.raises(ReviewRefused, match="approver role"):
        svc.act(rt, second_reviewer, app_id, Action.APPROVE, expected_version=1)
    done = svc.act(rt, second, app_id, Action.APPROVE, expected_version=1)
    assert done.outcome is Outcome.APPROVED
    assert latest(rt, app_id) | {} == {
        "version": 2,
        "decision": "PASS",
        "reasons": ["REVIEW_APPROVED"],
        "source": "review",
        "reviewed_by": [first.username, second.username],
    }


def test_a_plain_case_is_approved_by_one_reviewer(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = queued_case(rt, landing, shared_data)
    alice = reviewer(rt, Role.REVIEWER)
    done = svc.act(rt, alice, app_id, Action.APPROVE, expected_version=1)
    assert done.outcome is Outcome.APPROVED and latest(rt, app_id)["decision"] == "PASS"


def test_two_reviewers_racing_get_one_decision(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    app_id = queued_case(rt, landing, shared_data)
    people = [reviewer(rt, Role.APPROVER) for _ in range(4)]
    results: list[object] = []
    barrier = threading.Barrier(len(people))

    def go(who: svc.Reviewer) -> None:
        barrier.wait()
        try:
            results.append(
                svc.act(
                    rt, who, app_id, Action.REJECT, expected_version=1, reasons=["OTHER"], note="n"
                )
            )
        except ReviewRefused as exc:
            results.append(exc)

    threads = [threading.Thread(target=go, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    decided = [r for r in results if isinstance(r, svc.ActionResult)]
    refused = [r for r in results if isinstance(r, ReviewRefused)]
    assert len(decided) == 1 and len(refused) == 3
    assert all(r.code == "conflict" for r in refused)
    versions = rows(rt, "SELECT version FROM kyc_decisions WHERE application_id = :a", a=app_id)
    assert sorted(v.version for v in versions) == [1, 2]


def test_resubmission_leaves_the_queue_and_escalation_needs_an_approver(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    alice, boss = reviewer(rt, Role.REVIEWER), reviewer(rt, Role.APPROVER)
    resub = queued_case(rt, landing, shared_data)
    with pytest.raises(ReviewRefused, match="name the document"):
        svc.act(rt, alice, resub, Action.REQUEST_RESUBMISSION, expected_version=1)
    svc.act(rt, alice, resub, Action.REQUEST_RESUBMISSION, expected_version=1, document="selfie")
    assert latest(rt, resub)["reasons"] == ["RESUBMISSION_REQUESTED"]
    assert resub not in [r.application_id for r in svc.queue(rt, QueueFilters())[0]]

    esc = queued_case(rt, landing, shared_data)
    svc.act(rt, alice, esc, Action.ESCALATE, expected_version=1, note="unsure about the photo")
    page, _, _ = svc.queue(rt, QueueFilters(reason="ESCALATED"))
    assert [r.escalated for r in page if r.application_id == esc] == [True]
    with pytest.raises(ReviewRefused, match="approver"):
        svc.act(rt, alice, esc, Action.REJECT, expected_version=2, reasons=["OTHER"], note="n")
    svc.act(rt, boss, esc, Action.APPROVE, expected_version=2)
    assert latest(rt, esc)["decision"] == "PASS"


def test_an_escalated_case_keeps_its_automated_reasons_in_the_queue(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    """The reason filter finds an escalated case by the rules' reasons, not only ESCALATED."""
    app_id = queued_case(rt, landing, shared_data, Reason.REGISTER_CONDITIONS)
    alice, boss = reviewer(rt, Role.REVIEWER), reviewer(rt, Role.APPROVER)
    svc.act(rt, alice, app_id, Action.ESCALATE, expected_version=1, note="conditions?")
    page, _, _ = svc.queue(rt, QueueFilters(reason="REGISTER_CONDITIONS"))
    (row,) = [r for r in page if r.application_id == app_id]
    assert row.escalated and "REGISTER_CONDITIONS" in row.automated
    # only an approver may take an escalated case (a reviewer could not decide it)
    with pytest.raises(ReviewRefused, match="approver"):
        svc.claim(rt, alice, app_id)
    svc.claim(rt, boss, app_id)
    svc.act(rt, boss, app_id, Action.APPROVE, expected_version=2)


def test_stats_count_outcomes_per_automated_reason(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    stats = svc.review_stats(rt)
    assert stats.outcomes >= 5
    by = {r.reason: r for r in stats.by_reason}
    assert by["DOCUMENT_INCONSISTENT"].approved >= 1
    assert stats.median_seconds_in_queue is not None
    assert stats.by_outcome["REJECTED"] >= 2
    assert stats.as_json()["reviewers"]
