"""Erasure and retention on a real database and landing folder (issue 16)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import MappingProxyType

import pytest
import sqlalchemy as sa

from kyc.db.chain import verify
from kyc.db.engine import session_scope
from kyc.domain.records import DocumentScan
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import decide
from kyc.services.privacy import UnknownPerson, apply_retention, erase_user, find_user
from kyc.storage.local import LocalStore
from tests.services.conftest import Landed, land, open_landed, rows

pytestmark = pytest.mark.db


def decided(rt: Runtime, landing: Path, shared: Path, identity: int) -> Landed:
    """A decided application with a face embedding on file."""
    landed = land(LocalStore(landing), shared, identity=identity)
    case = open_landed(rt, str(landing), landed.application_id)
    signals = Signals(case.application, DocumentScan(fields=MappingProxyType({})), None, None)
    decide.decide_application(rt, case, signals)
    with session_scope(rt.db) as s:
        s.execute(
            sa.text(
                "INSERT INTO face_embeddings (application_id, user_id, selfie_id, engine, embedding)"
                " SELECT application_id, user_id, selfie_id, 'test', array_fill(0.1::real, ARRAY[128])"
                " FROM selfies WHERE application_id = :a"
            ),
            {"a": landed.application_id},
        )
    return landed


def every_row_as_text(rt: Runtime) -> str:
    """The whole database as text (to look for a value anywhere)."""
    with session_scope(rt.db) as s:
        tables = s.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        return "\n".join(
            str(r[0])
            for t in list(tables)
            for r in s.execute(sa.text(f'SELECT t::text FROM "{t}" t'))
        )


def test_erasure_deletes_objects_and_embeddings_redacts_pii_keeps_the_proof(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    landed = decided(rt, landing, shared_data, identity=3)
    other = decided(rt, landing, shared_data, identity=4)
    form = landed.form
    pii = [
        form["email"],
        form["last_name"],
        form["document"]["number"],
        form["date_of_birth"],
        form["address"]["line1"],
    ]
    before = every_row_as_text(rt)
    assert all(v in before for v in pii)

    user_id = find_user(rt, email=form["email"].upper())
    report = erase_user(rt, user_id)
    assert report.applications == [landed.application_id]
    assert report.objects_deleted >= 4 and report.embeddings_deleted == 1
    assert not report.already_erased

    assert list(LocalStore(landing).list(f"incoming/{landed.application_id}/")) == []
    assert list(LocalStore(landing).list(f"incoming/{other.application_id}/"))  # untouched
    after = every_row_as_text(rt)
    for value in pii:
        assert value not in after, value
    assert other.form["email"] in after
    # the decision skeleton and the proof stay
    (decision,) = rows(
        rt,
        "SELECT decision::text AS d, reasons FROM kyc_decisions WHERE application_id = :a",
        a=landed.application_id,
    )
    assert decision.d == "MANUAL_REVIEW" and decision.reasons
    with session_scope(rt.db) as s:
        assert verify(s).ok
    erased = rows(
        rt,
        "SELECT detail FROM audit_log WHERE entity = 'user' AND action = 'erased'"
        " AND entity_id = :u",
        u=user_id,
    )
    assert len(erased) == 1

    again = erase_user(rt, user_id)  # idempotent
    assert again.already_erased and again.objects_deleted == 0 and again.embeddings_deleted == 0


def test_unknown_people_are_refused(rt: Runtime) -> None:
    with pytest.raises(UnknownPerson):
        find_user(rt, email="nobody@example.invalid")
    with pytest.raises(UnknownPerson):
        find_user(rt, user_id="not-a-uuid")


def test_retention_is_a_dry_run_until_applied(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    landed = decided(rt, landing, shared_data, identity=5)
    app = landed.application_id
    # MANUAL_REVIEW is not a final decision: nothing goes, however old
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=4000)
    assert app not in apply_retention(rt, now=far).applications
    with session_scope(rt.db) as s:
        s.execute(
            sa.text(
                "INSERT INTO kyc_decisions (application_id, user_id, version, decision, reasons,"
                " findings, scores, engines, input_fingerprint, source, reviewed_by)"
                " SELECT application_id, user_id, 2, 'PASS', '{REVIEW_APPROVED}', '[]', '{}',"
                " '{}', input_fingerprint, 'review', '{someone}' FROM applications"
                " WHERE application_id = :a"
            ),
            {"a": app},
        )
    assert app not in apply_retention(rt).applications  # decided just now: kept
    dry = apply_retention(rt, now=far)
    assert app in dry.applications and not dry.applied
    assert list(LocalStore(landing).list(f"incoming/{app}/"))  # dry run deleted nothing
    done = apply_retention(rt, apply=True, now=far)
    assert app in done.applications and done.objects_deleted >= 4
    assert list(LocalStore(landing).list(f"incoming/{app}/")) == []
    assert rows(rt, "SELECT 1 FROM face_embeddings WHERE application_id = :a", a=app) == []
    assert app not in apply_retention(rt, now=far).applications  # nothing left to do


def test_an_encrypted_landing_is_decided_like_a_plain_one(
    db_url: str, tmp_path: Path, shared_data: Path
) -> None:
    """Objects written through the runtime's store are sealed on disk, read in the clear."""
    from kyc.services.intake import stored_application
    from kyc.settings import Settings
    from kyc.storage.envelope import generate_master_key
    from tests.services.conftest import run_chain

    settings = Settings(
        database_url=db_url,
        landing=str(tmp_path),
        liveness_policy="record",
        quality_gate_process=False,
        store_master_key=generate_master_key(),
    )
    sealed = Runtime(settings)
    try:
        store = sealed.store(str(tmp_path))
        landed = land(store, shared_data, identity=0)  # type: ignore[arg-type]
        on_disk = (tmp_path / "incoming" / landed.application_id / "application.json").read_bytes()
        assert landed.form["email"].encode() not in on_disk
        chain = run_chain(sealed, open_landed(sealed, str(tmp_path), landed.application_id))
        assert chain.scan.value("FIRST_NAME") == landed.form["first_name"].upper()
        assert chain.result.decision.value == "PASS", chain.result.findings
        assert stored_application(sealed, landed.application_id) is not None
    finally:
        sealed.close()
