"""Repository functions on a real PostgreSQL (embedded, and external when configured)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.db.models import (
    ApplicationRow,
    AuditLog,
    DeadLetter,
    DocScan,
    FaceCheck,
    IdDocument,
    KycDecision,
    QualityCheck,
    RegCheck,
    Selfie,
    User,
)
from kyc.domain.application import (
    Address,
    Application,
    DocumentClaim,
    DocumentType,
    RegisterType,
    Registration,
)
from kyc.domain.records import (
    Decision,
    DecisionResult,
    DocumentField,
    DocumentScan,
    FaceComparison,
    Finding,
    QualityResult,
    Reason,
    Severity,
)

pytestmark = pytest.mark.db

DECIDED_AT = dt.datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=dt.UTC)
ENGINES = {"document": "local-pdf417+tesseract 5.5", "face": "dlib 19.24"}


def new_app_id() -> str:
    return f"app-{uuid.uuid4().hex[:12]}"


def make_application(
    app_id: str, *, first_name: str = "Aisha", email: str = "a@example.org"
) -> Application:
    return Application(
        application_id=app_id,
        email=email,
        first_name=first_name,
        middle_name="Rose",
        last_name="Okafor",
        date_of_birth=dt.date(1990, 2, 28),
        address=Address(
            line1="1 High Street",
            city="Leeds",
            region="West Yorkshire",
            postal_code="LS1 1AA",
            country="GB",
        ),
        document=DocumentClaim(
            type=DocumentType.DRIVING_LICENCE,
            number="OKAFO902280AR9XY",
            issuing_country="GB",
            expiry_date=dt.date(2030, 1, 31),
        ),
        registration=Registration(type=RegisterType.GMC, number="7123456"),
    )


def register(
    session: Any, app: Application, fingerprint: str, *, back: bool = True
) -> repo.ApplicationRefs:
    folder = f"incoming/{app.application_id}"
    return repo.register_application(
        session,
        application=app,
        landing_uri="/srv/landing",
        input_fingerprint=fingerprint,
        front_key=f"{folder}/id_document.jpg",
        front_etag=f"etag-front-{fingerprint}",
        back_key=f"{folder}/id_document_back.jpg" if back else None,
        back_etag=f"etag-back-{fingerprint}" if back else None,
        selfie_key=f"{folder}/selfie.jpg",
        selfie_etag=f"etag-selfie-{fingerprint}",
    )


def make_scan() -> DocumentScan:
    return DocumentScan(
        fields=MappingProxyType(
            {
                "FIRST_NAME": DocumentField("AISHA", "AISHA", 99.1234, "barcode"),
                "DATE_OF_BIRTH": DocumentField("02281990", "1990-02-28", 98.0, "barcode"),
            }
        ),
        findings=(Finding(Reason.NAME_VARIANT, "middle name missing on the card"),),
        engine="local-pdf417+tesseract",
        engine_version="zxing 3.1.1; tesseract 5.5",
        timings_ms=MappingProxyType({"barcode": 12.5, "ocr": 340.0}),
    )


def make_face(similarity: float | None = 93.4567) -> FaceComparison:
    return FaceComparison(
        similarity=similarity,
        distance=0.3271,
        source_confidence=99.0,
        target_confidence=97.5,
        engine="dlib",
        engine_version="19.24",
        timings_ms=MappingProxyType({"encode": 210.0}),
    )


def make_decision(
    decision: Decision = Decision.PASS, *, reasons: tuple[Reason, ...] = ()
) -> DecisionResult:
    return DecisionResult(
        decision=decision,
        findings=tuple(Finding(r, f"detail of {r.value}", Severity.REVIEW) for r in reasons),
        scores=MappingProxyType(
            {"face_similarity": 93.457, "name_similarity": 1.0, "liveness": None}
        ),
        decided_at=DECIDED_AT,
    )


def audit_rows(session: Any, app_id: str) -> list[tuple[str, str, str | None, str | None]]:
    rows = session.execute(
        sa.select(AuditLog.entity, AuditLog.action, AuditLog.from_state, AuditLog.to_state)
        .where(AuditLog.application_id == app_id)
        .order_by(AuditLog.audit_id)
    ).all()
    return [tuple(r) for r in rows]


# --------------------------------------------------------------------------------------


def test_full_round_trip(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    app = make_application(app_id)
    with session_scope(db_engine) as s:
        refs = register(s, app, "fp-1")
    assert refs.application_id == app_id
    assert all(
        isinstance(v, uuid.UUID) for v in (refs.user_id, refs.id_document_id, refs.selfie_id)
    )

    with session_scope(db_engine) as s:
        scan_id = repo.record_doc_scan(s, id_document_id=refs.id_document_id, scan=make_scan())
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="OCR_DONE", application_id=app_id
        )
    with session_scope(db_engine) as s:
        face_id = repo.record_face_check(
            s,
            application_id=app_id,
            selfie_id=refs.selfie_id,
            id_document_id=refs.id_document_id,
            result=make_face(),
            matched=True,
        )
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="FACE_DONE", application_id=app_id
        )
    with session_scope(db_engine) as s:
        reg_id = repo.record_reg_check(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            reg_type="GMC",
            reg_number="7123456",
            status="FOUND",
            detail={
                "snapshot_date": "2025-03-01",
                "matched_name": "Aisha Okafor",
                "matched_status": "Registered",
            },
        )
        quality_id = repo.record_quality(
            s,
            application_id=app_id,
            result=QualityResult(
                success=False,
                suite="driving_licence",
                failed_expectations=("dob_format",),
                evaluated=7,
            ),
        )
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="QUALITY_DONE", application_id=app_id
        )
    with session_scope(db_engine) as s:
        version = repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=make_decision(Decision.MANUAL_REVIEW, reasons=(Reason.DATA_QUALITY_FAILED,)),
            engines=ENGINES,
            input_fingerprint="fp-1",
        )
    assert version == 1

    with session_scope(db_engine) as s:
        (row,) = repo.list_decisions(s, application_id=app_id)
        user = s.get_one(User, refs.user_id)
        doc = s.get_one(IdDocument, refs.id_document_id)
        selfie = s.get_one(Selfie, refs.selfie_id)
        application = s.get_one(ApplicationRow, app_id)
        scan = s.get_one(DocScan, scan_id)
        face = s.get_one(FaceCheck, face_id)
        reg = s.get_one(RegCheck, reg_id)
        quality = s.get_one(QualityCheck, quality_id)

    assert row.as_json() == {
        "application_id": app_id,
        "version": 1,
        "decision": "MANUAL_REVIEW",
        "reasons": ["DATA_QUALITY_FAILED"],
        "findings": [
            {
                "code": "DATA_QUALITY_FAILED",
                "detail": "detail of DATA_QUALITY_FAILED",
                "severity": "REVIEW",
            }
        ],
        "scores": {"face_similarity": 93.457, "name_similarity": 1.0, "liveness": None},
        "engines": ENGINES,
        "decided_at": "2025-03-14T09:26:53.589000+00:00",
        "reprocess_of": None,
        "duplicate_of": [],
        "source": "pipeline",
        "reviewed_by": [],
    }
    assert json.loads(json.dumps(row.as_json())) == row.as_json()

    assert (user.email, user.first_name, user.middle_name, user.last_name) == (
        "a@example.org",
        "Aisha",
        "Rose",
        "Okafor",
    )
    assert user.date_of_birth == dt.date(1990, 2, 28)
    assert user.address["postal_code"] == "LS1 1AA"
    assert user.status == "MANUAL_REVIEW"
    assert application.form == app.to_json()
    assert (application.landing_uri, application.input_fingerprint) == ("/srv/landing", "fp-1")
    assert (doc.doc_type, doc.document_number, doc.status) == (
        "driving_licence",
        "OKAFO902280AR9XY",
        "DECIDED",
    )
    assert (doc.back_key, doc.back_etag) == (
        f"incoming/{app_id}/id_document_back.jpg",
        "etag-back-fp-1",
    )
    assert (selfie.object_key, selfie.etag) == (f"incoming/{app_id}/selfie.jpg", "etag-selfie-fp-1")
    assert scan.fields == make_scan().as_dict()["fields"]
    assert scan.findings == [{"code": "NAME_VARIANT", "detail": "middle name missing on the card"}]
    assert scan.timings_ms == {"barcode": 12.5, "ocr": 340.0}
    assert (scan.engine, scan.engine_version) == (
        "local-pdf417+tesseract",
        "zxing 3.1.1; tesseract 5.5",
    )
    assert face.similarity == Decimal("93.457")
    assert (face.distance, face.source_confidence, face.target_confidence, face.matched) == (
        0.3271,
        99.0,
        97.5,
        True,
    )
    assert face.timings_ms == {"encode": 210.0}
    assert (reg.reg_type, reg.status, reg.snapshot_date) == ("GMC", "FOUND", dt.date(2025, 3, 1))
    assert (reg.matched_name, reg.matched_status) == ("Aisha Okafor", "Registered")
    assert (
        reg.raw_response_json is not None
        and reg.raw_response_json["matched_status"] == "Registered"
    )
    assert (quality.success, quality.failed_expectations, quality.evaluated) == (
        False,
        ["dob_format"],
        7,
    )


def test_audit_trail_records_every_state_change_without_pii(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    app = make_application(app_id, first_name="Zebedee", email="zebedee@example.org")
    with session_scope(db_engine) as s:
        refs = register(s, app, "fp-1", back=False)
        repo.record_doc_scan(s, id_document_id=refs.id_document_id, scan=make_scan())
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="OCR_DONE", application_id=app_id
        )
        repo.record_face_check(
            s,
            application_id=app_id,
            selfie_id=refs.selfie_id,
            id_document_id=refs.id_document_id,
            result=make_face(None),
            matched=None,
        )
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="FACE_DONE", application_id=app_id
        )
        repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=make_decision(),
            engines=ENGINES,
            input_fingerprint="fp-1",
        )
    with session_scope(db_engine) as s:
        trail = audit_rows(s, app_id)
        raw = s.execute(
            sa.text(
                "SELECT string_agg(a::text, ' ') FROM audit_log a WHERE a.application_id = :id"
            ),
            {"id": app_id},
        ).scalar()
    assert trail == [
        ("user", "created", None, "PENDING"),
        ("application", "registered", None, None),
        ("id_document", "created", None, "NEW"),
        ("selfie", "created", None, None),
        ("doc_scan", "recorded", None, None),
        ("id_document", "status", "NEW", "OCR_DONE"),
        ("face_check", "recorded", None, None),
        ("id_document", "status", "OCR_DONE", "FACE_DONE"),
        ("kyc_decision", "decided", None, "PASS"),
        ("user", "status", "PENDING", "VERIFIED"),
        ("id_document", "status", "FACE_DONE", "DECIDED"),
    ]
    assert raw is not None
    for pii in (
        "Zebedee",
        "zebedee@example.org",
        "Okafor",
        "OKAFO902280AR9XY",
        "1990-02-28",
        "LS1 1AA",
    ):
        assert pii not in raw


def test_decision_is_idempotent_on_fingerprint(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        refs = register(s, make_application(app_id), "fp-1")
        assert not repo.decision_exists(s, application_id=app_id, input_fingerprint="fp-1")
        repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=make_decision(),
            engines=ENGINES,
            input_fingerprint="fp-1",
        )
    with session_scope(db_engine) as s:
        assert repo.decision_exists(s, application_id=app_id, input_fingerprint="fp-1")
        assert not repo.decision_exists(s, application_id=app_id, input_fingerprint="fp-2")
        assert not repo.decision_exists(s, application_id=new_app_id(), input_fingerprint="fp-1")

    with (
        pytest.raises(repo.AlreadyDecided) as caught,
        session_scope(db_engine) as s,
    ):
        repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=make_decision(Decision.FAIL),
            engines=ENGINES,
            input_fingerprint="fp-1",
        )
    assert caught.value.version == 1
    # The unique constraint still backs the check up for writers that bypass it.
    with (
        pytest.raises(IntegrityError, match="uq_kyc_decisions_application_id_input_fingerprint"),
        session_scope(db_engine) as s,
    ):
        s.add(
            KycDecision(
                decision_id=uuid.uuid4(),
                application_id=app_id,
                user_id=refs.user_id,
                version=2,
                decision="FAIL",
                reasons=[],
                findings=[],
                scores={},
                engines={},
                input_fingerprint="fp-1",
                decided_at=dt.datetime.now(dt.UTC),
            )
        )
    with session_scope(db_engine) as s:
        decided = repo.decided_inputs(
            s, keys=[(app_id, "fp-1"), (app_id + "x", "fp-1"), ("nobody", "fp-9")]
        )
        assert set(decided) == {app_id}
        assert decided[app_id].version == 1
        assert repo.decided_inputs(s, keys=[(app_id, "fp-2")]) == {}
    with session_scope(db_engine) as s:
        rows = repo.list_decisions(s, latest_only=False, application_id=app_id)
        user = s.get_one(User, refs.user_id)
    assert [(r.version, r.decision) for r in rows] == [(1, "PASS")]
    assert user.status == "VERIFIED"  # the failed attempt changed nothing


def test_relanding_reuses_user_and_new_fingerprint_gives_version_2(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        first = register(s, make_application(app_id), "fp-1")
        assert (
            repo.record_decision(
                s,
                application_id=app_id,
                user_id=first.user_id,
                result=make_decision(),
                engines=ENGINES,
                input_fingerprint="fp-1",
            )
            == 1
        )
    with session_scope(db_engine) as s:
        second = register(
            s,
            make_application(app_id, first_name="Aysha", email="new@example.org"),
            "fp-2",
            back=False,
        )
        assert second.user_id == first.user_id
        assert second.id_document_id != first.id_document_id
        assert second.selfie_id != first.selfie_id
        assert s.get_one(IdDocument, second.id_document_id).status == "NEW"
        assert (
            repo.record_decision(
                s,
                application_id=app_id,
                user_id=second.user_id,
                result=make_decision(Decision.FAIL, reasons=(Reason.FACE_MISMATCH,)),
                engines=ENGINES,
                input_fingerprint="fp-2",
            )
            == 2
        )
    with session_scope(db_engine) as s:
        latest = repo.list_decisions(s, latest_only=True, application_id=app_id)
        every = repo.list_decisions(s, latest_only=False, application_id=app_id)
        user = s.get_one(User, first.user_id)
        app_row = s.get_one(ApplicationRow, app_id)
        users = s.execute(
            sa.select(sa.func.count()).select_from(User).where(User.user_id == first.user_id)
        ).scalar()
        docs = (
            s.execute(sa.select(IdDocument.status).where(IdDocument.application_id == app_id))
            .scalars()
            .all()
        )
    assert [(r.version, r.decision, r.reasons) for r in latest] == [(2, "FAIL", ["FACE_MISMATCH"])]
    assert [r.version for r in every] == [1, 2]
    assert (user.first_name, user.email, user.status) == ("Aysha", "new@example.org", "REJECTED")
    assert app_row.input_fingerprint == "fp-2"
    assert users == 1
    assert docs == ["DECIDED", "DECIDED"]


def test_registering_the_same_objects_again_returns_their_rows(db_engine: sa.Engine) -> None:
    """A retried or repeated registration of the same objects adds no document or selfie."""
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        first = register(s, make_application(app_id), "fp-1")
    with session_scope(db_engine) as s:
        again = register(s, make_application(app_id), "fp-1")
        without_back = register(s, make_application(app_id), "fp-1", back=False)
    with session_scope(db_engine) as s:
        docs = s.execute(
            sa.select(sa.func.count()).where(IdDocument.application_id == app_id)
        ).scalar()
    assert again == first
    # the stored fingerprint matched, the objects did not (no back side): a new
    # registration of the same user
    assert without_back.user_id == first.user_id
    assert without_back.id_document_id != first.id_document_id
    assert without_back.selfie_id != first.selfie_id
    assert docs == 2


def test_list_decisions_latest_per_application_ordered_by_id(db_engine: sa.Engine) -> None:
    prefix = f"order-{uuid.uuid4().hex[:8]}"
    ids = [f"{prefix}-c", f"{prefix}-a", f"{prefix}-b"]
    with session_scope(db_engine) as s:
        for i, app_id in enumerate(ids):
            refs = register(s, make_application(app_id), "fp-1")
            for n in range(i + 1):
                repo.record_decision(
                    s,
                    application_id=app_id,
                    user_id=refs.user_id,
                    result=make_decision(),
                    engines=ENGINES,
                    input_fingerprint=f"fp-{n}",
                )
    with session_scope(db_engine) as s:
        latest = [r for r in repo.list_decisions(s) if r.application_id.startswith(prefix)]
        every = [
            r
            for r in repo.list_decisions(s, latest_only=False)
            if r.application_id.startswith(prefix)
        ]
    assert [(r.application_id, r.version) for r in latest] == [
        (f"{prefix}-a", 2),
        (f"{prefix}-b", 3),
        (f"{prefix}-c", 1),
    ]
    assert [(r.application_id[-1], r.version) for r in every] == [
        ("a", 1),
        ("a", 2),
        ("b", 1),
        ("b", 2),
        ("b", 3),
        ("c", 1),
    ]


def test_concurrent_decisions_get_distinct_versions(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        refs = register(s, make_application(app_id), "fp-0")
    barrier = threading.Barrier(4)
    versions: list[int] = []
    errors: list[BaseException] = []

    def decide(n: int) -> None:
        try:
            with session_scope(db_engine) as s:
                barrier.wait()
                versions.append(
                    repo.record_decision(
                        s,
                        application_id=app_id,
                        user_id=refs.user_id,
                        result=make_decision(),
                        engines=ENGINES,
                        input_fingerprint=f"fp-{n}",
                    )
                )
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(versions) == [1, 2, 3, 4]


def test_dead_letters_are_deduplicated_while_unresolved(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    args: dict[str, Any] = {
        "application_id": app_id,
        "landing_uri": "/srv/landing",
        "stage": "load-form",
        "error_code": "FORM_INVALID",
    }
    with session_scope(db_engine) as s:
        first = repo.record_dead_letter(
            s, detail="date_of_birth: format violated", payload={"n": 1}, **args
        )
    with session_scope(db_engine) as s:
        before = s.get_one(DeadLetter, first).created_at
    with session_scope(db_engine) as s:
        again = repo.record_dead_letter(
            s, detail="email: format violated", payload={"n": 2}, **args
        )
        other = repo.record_dead_letter(
            s, **{**args, "error_code": "IMAGE_UNREADABLE"}, detail="selfie"
        )
    assert again == first
    assert other != first
    with session_scope(db_engine) as s:
        row = s.get_one(DeadLetter, first)
        count = s.execute(
            sa.select(sa.func.count())
            .select_from(DeadLetter)
            .where(DeadLetter.application_id == app_id)
        ).scalar()
        trail = audit_rows(s, app_id)
    assert (row.detail, row.payload) == ("email: format violated", {"n": 2})
    assert row.created_at > before
    assert count == 2
    assert trail == [
        ("dead_letter", "recorded", None, "FORM_INVALID"),
        ("dead_letter", "repeated", None, "FORM_INVALID"),
        ("dead_letter", "recorded", None, "IMAGE_UNREADABLE"),
    ]

    # Once resolved, the same problem happening again is a new dead letter.
    with session_scope(db_engine) as s:
        s.execute(
            sa.update(DeadLetter)
            .where(DeadLetter.dead_letter_id == first)
            .values(resolved_at=sa.func.now())
        )
    with session_scope(db_engine) as s:
        fresh = repo.record_dead_letter(s, detail="again", **args)
    assert fresh not in (first, other)
    with session_scope(db_engine) as s:
        open_ids = {
            d["dead_letter_id"] for d in repo.list_dead_letters(s) if d["application_id"] == app_id
        }
        all_rows = [
            d
            for d in repo.list_dead_letters(s, unresolved_only=False)
            if d["application_id"] == app_id
        ]
    assert open_ids == {other, fresh}
    assert {d["dead_letter_id"] for d in all_rows} == {first, other, fresh}
    resolved = next(d for d in all_rows if d["dead_letter_id"] == first)
    assert resolved["resolved_at"] is not None and resolved["resolved_at"].endswith("+00:00")
    assert json.loads(json.dumps(all_rows)) == all_rows


def test_dead_letters_without_application_id_are_keyed_by_landing_uri(db_engine: sa.Engine) -> None:
    uri = f"/srv/landing/{uuid.uuid4().hex}"
    args: dict[str, Any] = {"application_id": None, "stage": "discover", "error_code": "BAD_FOLDER"}
    with session_scope(db_engine) as s:
        a = repo.record_dead_letter(s, landing_uri=uri, detail="one", **args)
        b = repo.record_dead_letter(s, landing_uri=uri, detail="two", **args)
        c = repo.record_dead_letter(s, landing_uri=uri + "-other", detail="three", **args)
    assert a == b != c


def test_bad_input_gives_clear_errors(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        refs = register(s, make_application(app_id), "fp-1")
    with (
        pytest.raises(ValueError, match="unknown id_document status 'SCANNED'"),
        session_scope(db_engine) as s,
    ):
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="SCANNED", application_id=app_id
        )
    with pytest.raises(repo.RecordNotFound), session_scope(db_engine) as s:
        repo.set_document_status(
            s, id_document_id=uuid.uuid4(), status="OCR_DONE", application_id=app_id
        )
    with pytest.raises(ValueError, match="belongs to application"), session_scope(db_engine) as s:
        repo.set_document_status(
            s, id_document_id=refs.id_document_id, status="OCR_DONE", application_id="other"
        )
    with pytest.raises(repo.RecordNotFound), session_scope(db_engine) as s:
        repo.record_doc_scan(s, id_document_id=uuid.uuid4(), scan=make_scan())
    with pytest.raises(ValueError, match="similarity"), session_scope(db_engine) as s:
        repo.record_face_check(
            s,
            application_id=app_id,
            selfie_id=refs.selfie_id,
            id_document_id=refs.id_document_id,
            result=make_face(float("nan")),
            matched=None,
        )
    with pytest.raises(ValueError, match="unknown reg_type"), session_scope(db_engine) as s:
        repo.record_reg_check(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            reg_type="GPC",
            reg_number=None,
            status="NOT_RUN",
        )
    with pytest.raises(ValueError, match="back_key and back_etag"), session_scope(db_engine) as s:
        repo.register_application(
            s,
            application=make_application(app_id),
            landing_uri="/l",
            input_fingerprint="x",
            front_key="f",
            front_etag="e",
            back_key="b",
            back_etag=None,
            selfie_key="s",
            selfie_etag="e",
        )
    bad_scores = DecisionResult(
        decision=Decision.PASS,
        findings=(),
        scores=MappingProxyType({"face": float("inf")}),
        decided_at=DECIDED_AT,
    )
    with pytest.raises(ValueError, match="score face"), session_scope(db_engine) as s:
        repo.record_decision(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            result=bad_scores,
            engines={},
            input_fingerprint="fp-x",
        )
    with session_scope(db_engine) as s:
        assert s.get_one(IdDocument, refs.id_document_id).status == "NEW"
        assert repo.list_decisions(s, application_id=app_id) == []


def test_reg_check_without_detail(db_engine: sa.Engine) -> None:
    app_id = new_app_id()
    with session_scope(db_engine) as s:
        refs = register(s, make_application(app_id), "fp-1")
        reg_id = repo.record_reg_check(
            s,
            application_id=app_id,
            user_id=refs.user_id,
            reg_type="NONE",
            reg_number=None,
            status="NOT_REQUIRED",
        )
    with session_scope(db_engine) as s:
        reg = s.get_one(RegCheck, reg_id)
    assert (reg.reg_type, reg.reg_number, reg.status, reg.raw_response_json, reg.snapshot_date) == (
        "NONE",
        None,
        "NOT_REQUIRED",
        None,
        None,
    )
