"""Decision rules, table-tested: each row is a scenario a compliance officer knows."""

import dataclasses
import datetime as dt
from types import MappingProxyType

import pytest

from kyc.domain.application import parse_application
from kyc.domain.records import (
    Decision,
    DocumentField,
    DocumentScan,
    DuplicateCheck,
    DuplicateMatch,
    FaceComparison,
    Finding,
    LicenceResult,
    LivenessResult,
    QualityResult,
    Reason,
    RegisterOutcome,
    RegisterResult,
    Severity,
)
from kyc.domain.rules import Signals, Thresholds, decide, decision_for

TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def application(**over):
    import json

    data = {
        "application_id": "a1",
        "email": "a@example.org",
        "first_name": "Olivia",
        "middle_name": None,
        "last_name": "Smith",
        "date_of_birth": "1990-04-01",
        "address": {"line1": "1 Oak St", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"},
        "document": {"type": "driving_licence", "number": "D1234567", "issuing_country": "USA",
                     "issuing_region": "TX", "expiry_date": "2030-01-01"},
        "registration": {"type": "NONE", "number": None},
    }
    for k, v in over.items():
        if isinstance(v, dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return parse_application(json.dumps(data))


def scan(conf=99.0, findings=(), **fields):
    base = {"FIRST_NAME": "OLIVIA", "LAST_NAME": "SMITH", "DATE_OF_BIRTH": "1990-04-01",
            "EXPIRATION_DATE": "2030-01-01", "DOCUMENT_NUMBER": "D1234567"}
    base.update(fields)
    return DocumentScan(
        fields=MappingProxyType({k: DocumentField(v, v, conf, "barcode") for k, v in base.items() if v is not None}),
        findings=tuple(findings),
    )


def reg(outcome=RegisterOutcome.FOUND, status="Registered with a licence to practise", name="Dr Olivia Smith",
        conditions=()):
    return RegisterResult("GMC", "7123456", outcome, name=name, status=status, conditions=conditions)


GMC = {"type": "GMC", "number": "7123456"}

GOOD_FACE = FaceComparison(similarity=92.0, distance=0.3)
LIVE = LivenessResult(passed=True, method="challenge")
SPOOF = LivenessResult(passed=False, method="replay", findings=(Finding(Reason.LIVENESS_FAILED, "selfie is a copy of the document portrait"),))
REPLAY_CLEAN = LivenessResult(passed=None, method="replay")
SUSPECTED = LivenessResult(passed=None, method="replay", findings=(Finding(Reason.SELFIE_REPLAY_SUSPECTED, "the selfie resembles the document portrait"),))
NO_SESSION = LivenessResult(passed=None, method="aws-face-liveness", findings=(Finding(Reason.LIVENESS_NOT_ASSESSED, "no session id"),))
OTHER = DuplicateMatch(user_id="u-1", application_id="a-0", distance=0.3, same_identity=False)
SAME = DuplicateMatch(user_id="u-2", application_id="a-9", distance=0.2, same_identity=True)
OK_QUALITY = QualityResult(True, "kyc_driving_licence", (), 13)


def run(app=None, sc=None, face=GOOD_FACE, quality=OK_QUALITY, policy="record", **kw):
    return decide(
        Signals(application=app or application(), scan=sc or scan(), face=face, quality=quality, **kw),
        thresholds=Thresholds(liveness_policy=policy),
        today=TODAY,
        now=NOW,
    )


CASES = [
    # id, signals kwargs, decision, reasons that must be present
    ("genuine", {}, Decision.PASS, {"LIVENESS_NOT_ASSESSED"}),
    ("liveness required", {"policy": "require"}, Decision.MANUAL_REVIEW, {"LIVENESS_NOT_ASSESSED"}),
    ("liveness failed", {"liveness": (SPOOF,)}, Decision.FAIL, {"LIVENESS_FAILED"}),
    ("liveness failed by one method of two", {"liveness": (LIVE, SPOOF), "policy": "record"}, Decision.FAIL, {"LIVENESS_FAILED"}),
    ("failed without a finding still fails", {"liveness": (LivenessResult(passed=False, method="x"),)}, Decision.FAIL, {"LIVENESS_FAILED"}),
    ("liveness passed", {"liveness": (LIVE, REPLAY_CLEAN), "policy": "require"}, Decision.PASS, set()),
    ("replay clean alone is no evidence", {"liveness": (REPLAY_CLEAN,), "policy": "require"}, Decision.MANUAL_REVIEW, {"LIVENESS_NOT_ASSESSED"}),
    # Issue 14: the replay heuristics alone never fail an applicant, and their
    # suspicion is not lost behind a passed challenge or a lenient policy.
    ("replay suspected is a review under record", {"liveness": (SUSPECTED,), "policy": "record"}, Decision.MANUAL_REVIEW,
     {"SELFIE_REPLAY_SUSPECTED", "LIVENESS_NOT_ASSESSED"}),
    ("replay suspected beside a passed challenge", {"liveness": (LIVE, SUSPECTED), "policy": "require"}, Decision.MANUAL_REVIEW,
     {"SELFIE_REPLAY_SUSPECTED"}),
    ("replay suspected beside a failed method", {"liveness": (SPOOF, SUSPECTED)}, Decision.FAIL,
     {"LIVENESS_FAILED", "SELFIE_REPLAY_SUSPECTED"}),
    ("not assessed kept as warning under record", {"liveness": (NO_SESSION, REPLAY_CLEAN), "policy": "record"}, Decision.PASS, {"LIVENESS_NOT_ASSESSED"}),
    ("duplicate identity", {"duplicates": DuplicateCheck(ran=True, matches=(OTHER,), method="hnsw")}, Decision.MANUAL_REVIEW, {"DUPLICATE_IDENTITY"}),
    ("same person again is no duplicate", {"duplicates": DuplicateCheck(ran=True, matches=(SAME,), method="exact")}, Decision.PASS, set()),
    ("duplicate search not run is visible", {"duplicates": DuplicateCheck(ran=False, reason="face engine gives no embedding")}, Decision.PASS, {"DUPLICATE_NOT_CHECKED"}),
    ("impostor", {"face": FaceComparison(similarity=40.0, distance=0.85)}, Decision.FAIL, {"FACE_MISMATCH"}),
    ("borderline face", {"face": FaceComparison(similarity=75.0, distance=0.62)}, Decision.MANUAL_REVIEW, {"FACE_INCONCLUSIVE"}),
    ("no face", {"face": FaceComparison(similarity=None, findings=(Finding(Reason.FACE_NOT_FOUND, "no face in selfie"),))},
     Decision.MANUAL_REVIEW, {"FACE_NOT_FOUND"}),
    ("face engine down", {"face": None, "extra_findings": (Finding(Reason.ENGINE_ERROR, "face matcher failed"),)},
     Decision.MANUAL_REVIEW, {"ENGINE_ERROR"}),
    ("expired document", {"sc": scan(EXPIRATION_DATE="2026-11-01"), "app": application(document={"expiry_date": "2026-11-01"})},
     Decision.FAIL, {"DOCUMENT_EXPIRED"}),
    ("expires today is still valid", {"sc": scan(EXPIRATION_DATE="2026-11-23"), "app": application(document={"expiry_date": "2026-11-23"})},
     Decision.PASS, set()),
    ("form claims expired, doc unreadable", {"sc": scan(findings=(Finding(Reason.DOCUMENT_UNREADABLE, "blurred"),), EXPIRATION_DATE=None),
                                             "app": application(document={"expiry_date": "2025-01-01"})},
     Decision.FAIL, {"DOCUMENT_EXPIRED", "DOCUMENT_UNREADABLE"}),
    ("dob mismatch", {"app": application(date_of_birth="1991-04-01")}, Decision.MANUAL_REVIEW, {"DOB_MISMATCH"}),
    ("name mismatch", {"app": application(first_name="Samantha")}, Decision.MANUAL_REVIEW, {"NAME_MISMATCH"}),
    ("accents and case", {"app": application(first_name="olívia", last_name="SMÍTH")}, Decision.PASS, set()),
    ("middle name missing on form", {"sc": scan(MIDDLE_NAME="JANE")}, Decision.PASS, {"NAME_VARIANT"}),
    ("document number differs", {"app": application(document={"number": "D7654321"})}, Decision.MANUAL_REVIEW,
     {"DOCUMENT_NUMBER_MISMATCH"}),
    ("number formatting ignored", {"app": application(document={"number": "d123 4567"})}, Decision.PASS, set()),
    ("expiry on form differs", {"app": application(document={"expiry_date": "2031-01-01"})}, Decision.MANUAL_REVIEW,
     {"EXPIRY_MISMATCH"}),
    ("unreadable document", {"sc": DocumentScan(fields=MappingProxyType({}), findings=(Finding(Reason.DOCUMENT_UNREADABLE, "no barcode"),))},
     Decision.MANUAL_REVIEW, {"DOCUMENT_UNREADABLE"}),
    ("front unreadable, barcode read: still compared", {"sc": scan(findings=(Finding(Reason.DOCUMENT_UNREADABLE, "front"),)),
                                                        "app": application(date_of_birth="1991-04-01")},
     Decision.MANUAL_REVIEW, {"DOCUMENT_UNREADABLE", "DOB_MISMATCH"}),
    ("no fields and no finding", {"sc": DocumentScan(fields=MappingProxyType({}))}, Decision.MANUAL_REVIEW, {"DOCUMENT_UNREADABLE"}),
    ("field missing", {"sc": scan(DOCUMENT_NUMBER=None)}, Decision.MANUAL_REVIEW, {"DOCUMENT_FIELD_MISSING"}),
    ("low confidence", {"sc": scan(conf=30.0)}, Decision.MANUAL_REVIEW, {"DOCUMENT_LOW_CONFIDENCE"}),
    ("data quality failed", {"quality": QualityResult(False, "kyc_driving_licence", ("expect_x(AGE_YEARS)",), 13)},
     Decision.MANUAL_REVIEW, {"DATA_QUALITY_FAILED"}),
    ("data quality not run", {"quality": None}, Decision.MANUAL_REVIEW, {"DATA_QUALITY_FAILED"}),
    ("register check did not run", {"app": application(registration=GMC)},
     Decision.MANUAL_REVIEW, {"REGISTER_NOT_CHECKED"}),
    ("registered doctor", {"app": application(registration=GMC), "register": reg()}, Decision.PASS, set()),
    ("registered with conditions", {"app": application(registration=GMC),
                                    "register": reg(conditions=("Conditions on practice",))},
     Decision.MANUAL_REVIEW, {"REGISTER_CONDITIONS"}),
    ("erased from the register", {"app": application(registration=GMC), "register": reg(status="Erased")},
     Decision.FAIL, {"REGISTER_NOT_ACTIVE"}),
    ("suspended", {"app": application(registration=GMC), "register": reg(status="Suspended")},
     Decision.FAIL, {"REGISTER_NOT_ACTIVE"}),
    ("not on the register", {"app": application(registration=GMC),
                             "register": reg(RegisterOutcome.NOT_FOUND, None, None)},
     Decision.MANUAL_REVIEW, {"REGISTER_NOT_FOUND"}),
    ("register down", {"app": application(registration=GMC), "register": reg(RegisterOutcome.UNAVAILABLE, None, None)},
     Decision.MANUAL_REVIEW, {"REGISTER_UNAVAILABLE"}),
    ("malformed number", {"app": application(registration=GMC),
                          "register": reg(RegisterOutcome.NUMBER_INVALID, None, None)},
     Decision.MANUAL_REVIEW, {"REGISTER_NUMBER_INVALID"}),
    ("someone else's registration", {"app": application(registration=GMC), "register": reg(name="Mark Jones")},
     Decision.MANUAL_REVIEW, {"REGISTER_NAME_MISMATCH"}),
    ("unrecognised status wording", {"app": application(registration=GMC), "register": reg(status="Provisional")},
     Decision.MANUAL_REVIEW, {"REGISTER_CONDITIONS"}),
    ("licence verified", {"licence": LicenceResult(True)}, Decision.PASS, set()),
    ("licence not verified", {"licence": LicenceResult(False, findings=(Finding(Reason.LICENCE_NOT_VERIFIED, "x"),))},
     Decision.MANUAL_REVIEW, {"LICENCE_NOT_VERIFIED"}),
    ("licence data mismatch", {"licence": LicenceResult(False, findings=(Finding(Reason.LICENCE_DATA_MISMATCH, "dob"),))},
     Decision.MANUAL_REVIEW, {"LICENCE_DATA_MISMATCH"}),
    ("impostor with expired doc: both reasons", {"face": FaceComparison(similarity=10.0), "sc": scan(EXPIRATION_DATE="2020-01-01"),
                                                  "app": application(document={"expiry_date": "2020-01-01"})},
     Decision.FAIL, {"FACE_MISMATCH", "DOCUMENT_EXPIRED"}),
]


@pytest.mark.parametrize(("case", "kwargs", "decision", "reasons"), CASES, ids=[c[0] for c in CASES])
def test_decision_table(case, kwargs, decision, reasons):
    result = run(**kwargs)
    assert result.decision is decision, result.findings
    assert reasons <= set(result.reasons)
    if decision is Decision.PASS:
        assert all(f.severity is Severity.WARNING for f in result.findings)


def test_findings_carry_severity_and_are_ordered_severest_first():
    result = run(face=FaceComparison(similarity=10.0), app=application(date_of_birth="1991-04-01"))
    sev = [f.severity for f in result.findings]
    assert sev == sorted(sev, key=[Severity.FAIL, Severity.REVIEW, Severity.WARNING].index)
    assert result.findings[0].as_dict()["severity"] == "FAIL"


def test_scores_are_recorded():
    result = run()
    assert result.scores["face_similarity"] == 92.0
    assert result.scores["face_distance"] == 0.3
    assert result.scores["data_quality_success"] == 1.0
    assert result.scores["document_min_confidence"] == 99.0
    assert result.decided_at == NOW


def test_thresholds_come_from_settings():
    face = FaceComparison(similarity=85.0)
    strict = decide(Signals(application(), scan(), face, OK_QUALITY), thresholds=Thresholds(face_match=90, liveness_policy="record"), today=TODAY, now=NOW)
    lenient = decide(Signals(application(), scan(), face, OK_QUALITY), thresholds=Thresholds(face_match=80, liveness_policy="record"), today=TODAY, now=NOW)
    assert strict.decision is Decision.MANUAL_REVIEW and lenient.decision is Decision.PASS


def test_duplicate_findings_collapse():
    f = Finding(Reason.ENGINE_ERROR, "x")
    result = run(extra_findings=(f, dataclasses.replace(f)))
    assert result.reasons.count("ENGINE_ERROR") == 1


def test_not_assessed_detail_names_each_method_and_the_policy():
    result = run(liveness=(NO_SESSION, REPLAY_CLEAN), policy="require")
    [f] = [f for f in result.findings if f.reason is Reason.LIVENESS_NOT_ASSESSED]
    assert f.detail == "aws-face-liveness: no session id (policy require)"
    assert f.severity is Severity.REVIEW


def test_liveness_confidence_is_a_score():
    aws = LivenessResult(passed=True, method="aws-face-liveness", confidence=97.25)
    assert run(liveness=(aws,)).scores["liveness_confidence"] == 97.25


def test_decision_carries_the_other_users_of_a_duplicate_identity():
    result = run(duplicates=DuplicateCheck(ran=True, matches=(SAME, OTHER), method="hnsw"))
    assert result.duplicate_of == (OTHER,)
    [f] = [f for f in result.findings if f.reason is Reason.DUPLICATE_IDENTITY]
    assert "u-1" in f.detail and "a-0" in f.detail
    assert run().duplicate_of == ()


DECISION_FOR = [
    # id, findings (reason codes), liveness policy, decision
    ("no findings", (), "require", Decision.PASS),
    ("warnings only", (Reason.NAME_VARIANT, Reason.DUPLICATE_NOT_CHECKED), "require", Decision.PASS),
    ("one review", (Reason.DOB_MISMATCH,), "require", Decision.MANUAL_REVIEW),
    ("review and warning", (Reason.NAME_VARIANT, Reason.REGISTER_CONDITIONS), "record", Decision.MANUAL_REVIEW),
    ("one fail", (Reason.REGISTER_NOT_ACTIVE,), "require", Decision.FAIL),
    ("fail beats review", (Reason.REGISTER_NAME_MISMATCH, Reason.FACE_MISMATCH), "require", Decision.FAIL),
    ("not assessed, liveness required", (Reason.LIVENESS_NOT_ASSESSED,), "require", Decision.MANUAL_REVIEW),
    ("not assessed, liveness recorded", (Reason.LIVENESS_NOT_ASSESSED,), "record", Decision.PASS),
    ("register unavailable", (Reason.REGISTER_UNAVAILABLE,), "record", Decision.MANUAL_REVIEW),
]


@pytest.mark.parametrize(("case", "reasons", "policy", "decision"), DECISION_FOR, ids=[c[0] for c in DECISION_FOR])
def test_decision_for_table(case, reasons, policy, decision):
    findings = [Finding(r, "x") for r in reasons]
    assert decision_for(findings, Thresholds(liveness_policy=policy)) is decision


def test_decision_for_rates_findings_itself():
    # A severity already on a finding (an engine's, or a stale one) does not weigh.
    softened = Finding(Reason.FACE_MISMATCH, "x", severity=Severity.WARNING)
    assert decision_for([softened], Thresholds()) is Decision.FAIL


@pytest.mark.parametrize(("case", "kwargs", "decision", "reasons"), CASES, ids=[c[0] for c in CASES])
def test_decide_ends_with_decision_for(case, kwargs, decision, reasons):
    result = run(**kwargs)
    policy = kwargs.get("policy", "record")
    assert decision_for(result.findings, Thresholds(liveness_policy=policy)) is result.decision
