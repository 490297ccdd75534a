"""Duplicate identities: same person again vs another identity (pure)."""

import datetime as dt

from kyc.domain.duplicates import (
    Candidate,
    Identity,
    classify,
    duplicate_findings,
    may_enrol,
    same_identity,
)
from kyc.domain.records import DuplicateCheck, Finding, LivenessResult, Reason

DOB = dt.date(1990, 4, 1)
OLIVIA = Identity("Olivia", "Smith", DOB)


def test_same_name_and_dob_is_the_same_identity_even_with_variants():
    assert same_identity(OLIVIA, Identity("OLIVIA", "SMITH", DOB), name_threshold=0.85)
    assert same_identity(
        OLIVIA, Identity("olivia", "Smith", DOB, middle_name="Jane"), name_threshold=0.85
    )
    assert same_identity(
        Identity("José", "García-López", DOB),
        Identity("Jose", "Garcia Lopez", DOB),
        name_threshold=0.85,
    )


def test_another_name_or_another_dob_is_another_identity():
    assert not same_identity(OLIVIA, Identity("Samantha", "Smith", DOB), name_threshold=0.85)
    assert not same_identity(OLIVIA, Identity("Olivia", "Jones", DOB), name_threshold=0.85)
    assert not same_identity(
        OLIVIA, Identity("Olivia", "Smith", dt.date(1991, 4, 1)), name_threshold=0.85
    )


def test_classify_orders_by_distance_and_findings_name_only_other_identities():
    check = classify(
        OLIVIA,
        [
            Candidate("u-far", "a-far", 0.5, Identity("Mia", "Jones", DOB)),
            Candidate("u-me", "a-me", 0.1, OLIVIA),
        ],
        name_threshold=0.85,
        method="exact",
    )
    assert [m.user_id for m in check.matches] == ["u-me", "u-far"]
    assert [m.user_id for m in check.duplicates] == ["u-far"]
    [f] = duplicate_findings(check)
    assert f.reason is Reason.DUPLICATE_IDENTITY and "u-far" in f.detail and "a-far" in f.detail
    assert "Mia" not in f.detail and "Jones" not in f.detail  # ids only, no PII


def test_not_run_and_not_applicable():
    assert duplicate_findings(None) == []
    [f] = duplicate_findings(DuplicateCheck(ran=False, reason="no embedding"))
    assert f.reason is Reason.DUPLICATE_NOT_CHECKED and f.detail == "no embedding"
    assert duplicate_findings(DuplicateCheck(ran=True, matches=(), method="hnsw")) == []


def test_a_user_enrolled_twice_counts_once_at_the_nearest():
    other = Identity("Mia", "Jones", DOB)
    check = classify(OLIVIA, [Candidate("u-1", "a-2", 0.4, other), Candidate("u-1", "a-1", 0.2, other)],
                     name_threshold=0.85, method="hnsw")
    assert [(m.user_id, m.application_id, m.distance) for m in check.matches] == [("u-1", "a-1", 0.2)]


def test_a_failed_or_suspected_replay_is_not_enrolled():
    clean = LivenessResult(passed=None, method="replay")
    suspected = LivenessResult(passed=None, method="replay",
                               findings=(Finding(Reason.SELFIE_REPLAY_SUSPECTED, "resembles the portrait"),))
    assert may_enrol([LivenessResult(passed=True, method="challenge"), clean])
    assert not may_enrol([LivenessResult(passed=False, method="replay")])
    assert not may_enrol([LivenessResult(passed=True, method="challenge"), suspected])
