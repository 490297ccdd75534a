"""The batch and per-application flows end to end: real engines, Prefect API, PostgreSQL.

One demo set (~26 applications covering every expected outcome) is decided once per
database server; the other tests build on the decisions it leaves.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.ingest import ingest_landing
from flows.pipeline import process_application as process_one
from flows.process_application import process_application
from flows.runner import InlineRunner
from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.repository import list_dead_letters, list_decisions
from kyc.demo.generate import generate_demo
from kyc.demo.registers import load_demo_register
from kyc.storage.local import LocalStore
from tasks.pipeline import discover_applications

pytestmark = pytest.mark.slow


def _check(outcomes, expected):
    by_id = {o.application_id: o for o in outcomes}
    assert set(by_id) == set(expected), "every application folder must be reported"
    wrong = []
    for app_id, exp in expected.items():
        o = by_id[app_id]
        shown = o.decision or o.status
        if shown != exp["expected"] or not all(
            r in o.reasons or r in o.detail for r in exp["expected_reasons"]
        ):
            wrong.append((app_id, exp["expected"], shown, o.reasons, o.detail))
    assert not wrong, wrong


def _count(sql: str) -> int:
    with runtime.database().connect() as conn:
        return int(conn.execute(sa.text(sql)).scalar_one())


# The whole demo set once, on the embedded server: the other flow tests in this folder
# run on both servers, so PostgreSQL 15 still sees every write the pipeline makes.
@pytest.mark.parametrize("pg_server", ["embedded"], indirect=True)
def test_demo_set_end_to_end(pipeline_env: Path, shared_data: Path) -> None:
    store = LocalStore(pipeline_env)
    cases = generate_demo(store, shared_data)
    load_demo_register(runtime.database())
    expected = {
        c.application_id: {"expected": c.expected, "expected_reasons": list(c.expected_reasons)}
        for c in cases
    }

    outcomes = ingest_landing(str(pipeline_env))
    _check(outcomes, expected)
    decided = [o for o in outcomes if o.status == "DECIDED"]
    assert Counter(o.decision for o in decided) == Counter(
        c.expected for c in cases if c.expected in {"PASS", "FAIL", "MANUAL_REVIEW"}
    )

    # The database holds what the run reported, with its trail.
    assert _count("select count(*) from kyc_decisions") == len(decided)
    assert _count("select count(*) from id_documents where status <> 'DECIDED'") == 0
    assert _count("select count(*) from doc_scans") == len(decided)
    assert _count("select count(*) from face_checks") == len(decided)
    assert _count("select count(*) from quality_checks") == len(decided)
    # Register checks: the GMC doctor, the NMC nurse and the GPhC ("GPC") pharmacist.
    assert _count("select count(*) from reg_checks where status = 'NOT_RUN'") == 0
    assert _count(
        "select count(*) from reg_checks where status = 'FOUND' and snapshot_date is not null"
        " and matched_name is not null and matched_status is not null"
        " and raw_response_json->>'source' = 'register-snapshot'"
    ) == 3
    assert _count("select count(*) from audit_log") > 5 * len(decided)
    with session_scope(runtime.database()) as s:
        rows = {r.application_id: r for r in list_decisions(s)}
        dead = list_dead_letters(s)
    assert {d["error_code"] for d in dead} == {"APPLICATION_INVALID"}
    passed = next(r for r in rows.values() if r.decision == "PASS")
    record = passed.as_json()
    assert record["scores"]["face_similarity"] >= 80
    assert record["engines"]["document_reader"].startswith("local/")
    assert record["engines"]["liveness_policy"] == "record"
    assert any(f["code"] == "LIVENESS_NOT_ASSESSED" and f["severity"] == "WARNING" for f in record["findings"])
    assert record["engines"]["liveness"].startswith("local-challenge/")
    assert record["engines"]["liveness_methods"] == "challenge,replay"
    assert record["engines"]["duplicate_search"] in {"hnsw", "exact"}
    assert record["duplicate_of"] == []

    # Liveness: one row per method per decided application; the replayed portrait fails.
    assert _count("select count(*) from liveness_checks") == 2 * len(decided)
    by_kind = {c.kind: c.application_id for c in cases}
    replay = rows[by_kind["replayed-portrait"]].as_json()
    assert any(f["code"] == "LIVENESS_FAILED" and "copy of the document portrait" in f["detail"]
               for f in replay["findings"])
    # Duplicate identity: the decision names the earlier user and application.
    dup = rows[by_kind["same-face-new-name"]].as_json()
    # (the DOB-mismatch case enrolled the same face too, under its own claim)
    assert "demo-001-genuine" in [d["application_id"] for d in dup["duplicate_of"]]
    with runtime.database().connect() as conn:
        first_user = conn.execute(sa.text(
            "select user_id::text from applications where application_id = 'demo-001-genuine'")).scalar_one()
    assert first_user in [d["user_id"] for d in dup["duplicate_of"]]
    assert any(first_user in f["detail"] for f in dup["findings"] if f["code"] == "DUPLICATE_IDENTITY")
    # Every PASS stays clear of the duplicate rule; replayed faces are not enrolled.
    assert not any("DUPLICATE_IDENTITY" in r.reasons for r in rows.values() if r.decision == "PASS")
    assert _count(f"select count(*) from face_embeddings where application_id = '{by_kind['replayed-portrait']}'") == 0

    # Re-running on the same objects decides nothing twice, and says what stands.
    again = ingest_landing(str(pipeline_env))
    assert _count("select count(*) from kyc_decisions") == len(decided)
    statuses = Counter(o.status for o in again)
    assert statuses["ALREADY_DECIDED"] == len(decided)
    _check(again, expected)

    # A run that was told the objects were undecided (the batch asks once, up front)
    # but loses the race to another run learns it when recording: no second decision.
    some = decided[0].application_id
    bundle = discover_applications.fn(str(pipeline_env), some).complete[0]
    raced = process_one(InlineRunner(), str(pipeline_env), bundle, checked=True)
    assert raced.status == "ALREADY_DECIDED" and raced.decision == decided[0].decision
    assert _count("select count(*) from kyc_decisions") == len(decided)

    # A changed object is a new submission: a new decision version, the old one kept.
    genuine = next(c.application_id for c in cases if c.expected == "PASS")
    other = next(c.application_id for c in cases if c.kind == "impostor")
    store.put(f"incoming/{genuine}/selfie.jpg", store.get(f"incoming/{other}/selfie.jpg"))
    outcome = process_application(genuine, str(pipeline_env))
    assert outcome.status == "DECIDED"
    with session_scope(runtime.database()) as s:
        versions = list_decisions(s, latest_only=False, application_id=genuine)
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].decision == "PASS"
    assert versions[1].decision == "FAIL" and "FACE_MISMATCH" in versions[1].reasons


def test_process_application_reports_missing_and_incomplete(pipeline_env: Path, shared_data: Path) -> None:
    outcome = process_application("nobody-here", str(pipeline_env))
    assert outcome.status == "INCOMPLETE" and "no objects" in outcome.detail
    store = LocalStore(pipeline_env)
    store.put("incoming/half/application.json", b"{}")
    outcome = process_application("half", str(pipeline_env))
    assert outcome.status == "INCOMPLETE"
    assert "id_document" in outcome.detail and "selfie" in outcome.detail
