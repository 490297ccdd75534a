"""Reprocessing: a new decision version on the stored objects; the old one stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.process_application import process_application
from flows.reprocess import reprocess_application
from kyc import runtime
from kyc.db.engine import session_scope
from kyc.db.repository import list_decisions
from kyc.demo.generate import generate_demo
from kyc.storage.local import LocalStore

pytestmark = pytest.mark.slow


def test_reprocess_records_a_new_version_and_keeps_the_old(
    pipeline_env: Path, shared_data: Path, tmp_path: Path
) -> None:
    generated = LocalStore(tmp_path / "generated")
    case = next(c for c in generate_demo(generated, shared_data) if c.kind == "genuine")
    landing = LocalStore(pipeline_env)
    for obj in generated.list(f"incoming/{case.application_id}/"):
        landing.put(obj.key, generated.get(obj.key))
    app_id = case.application_id

    first = process_application(app_id)
    assert (first.status, first.decision) == ("DECIDED", case.expected)

    again = reprocess_application(app_id)
    assert (again.status, again.decision) == ("DECIDED", case.expected)

    with session_scope(runtime.database()) as s:
        versions = list_decisions(s, latest_only=False, application_id=app_id)
        audit = s.execute(
            sa.text(
                "select action, detail from audit_log where application_id = :a"
                " and entity = 'kyc_decision' order by audit_id"
            ),
            {"a": app_id},
        ).all()
    assert [(v.version, v.reprocess_of) for v in versions] == [(1, None), (2, 1)]
    assert [a for a, _ in audit] == ["decided", "reprocessed"]
    detail = audit[1][1]
    assert detail["reprocess_of"] == 1 and detail["idempotency_bypassed"] is True
    assert json.loads(json.dumps(versions[1].as_json()))["reprocess_of"] == 1

    # Re-landing (or a duplicate event) on the same objects still decides nothing.
    dup = process_application(app_id)
    assert dup.status == "ALREADY_DECIDED" and "version 2" in dup.detail

    # Nothing to reprocess: an unknown application, or objects gone since.
    assert reprocess_application("never-landed").status == "NOT_FOUND"
    selfie = next(o.key for o in landing.list(f"incoming/{app_id}/") if "selfie" in o.key)
    landing.delete(selfie)
    gone = reprocess_application(app_id)
    assert gone.status == "INCOMPLETE" and "selfie" in gone.detail
