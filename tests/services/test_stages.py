"""The stage chain through the services, on real engines and a real database.

One genuine application (the demo's first applicant: a licence with her portrait,
her own selfie) and one impostor (another identity's selfie) go through scan → face
→ liveness → duplicates → register → licence → quality → decision, each once for
the module. The genuine one is instrumented: every object read, every image
decode and every HOG face detection is counted, which is the point of the
service layer's shared :class:`~kyc.imaging.picture.Picture` images.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.records import Decision, Reason, Severity
from kyc.imaging import faces as face_detection
from kyc.imaging import picture as picture_module
from kyc.runtime import Runtime
from kyc.services import decide, duplicates
from kyc.storage.local import LocalStore
from tests.services.conftest import Chain, count_calls, land, open_landed, rows, run_chain

pytestmark = [pytest.mark.db, pytest.mark.slow]


@dataclass
class Counted:
    """A chain run with what it cost: object reads, image decodes, face detections."""

    chain: Chain
    reads: Counter[str] = field(default_factory=Counter)
    #: role of the object whose bytes were decoded (front, back, selfie), per decode
    decodes: Counter[str] = field(default_factory=Counter)
    #: Picture name per HOG detection run (``_detect``: every pass of one search)
    detections: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def genuine(rt: Runtime, landing: Path, shared_data: Path) -> Iterator[Counted]:
    landed = land(LocalStore(landing), shared_data, identity=0)
    store = rt.store(str(landing))
    base = f"incoming/{landed.application_id}/"
    role_of = {
        store.get(base + name): role
        for name, role in [
            ("id_document.jpg", "front"),
            ("id_document_back.jpg", "back"),
            ("selfie.jpg", "selfie"),
        ]
    }
    reads: Counter[str] = Counter()
    decodes: Counter[str] = Counter()
    detections: Counter[str] = Counter()
    with pytest.MonkeyPatch.context() as patch:
        count_calls(patch, store, "get", reads, lambda key: key.removeprefix(base))
        # where kyc.imaging.picture and kyc.imaging.faces look them up
        count_calls(
            patch, picture_module, "load_image_reduced", decodes, lambda data: role_of[data]
        )
        count_calls(patch, face_detection, "_detect", detections, lambda pic, _: pic.name)
        chain = run_chain(rt, open_landed(rt, str(landing), landed.application_id))
    yield Counted(chain, reads, decodes, detections)


@pytest.fixture(scope="module")
def impostor(rt: Runtime, landing: Path, shared_data: Path) -> Chain:
    # As the demo's impostors: a licence of one identity, another one's selfie.
    landed = land(LocalStore(landing), shared_data, identity=10, selfie_of=3)
    return run_chain(rt, open_landed(rt, str(landing), landed.application_id))


def test_genuine_application_passes(genuine: Counted) -> None:
    chain = genuine.chain
    assert chain.scan.readable
    assert chain.scan.value("FIRST_NAME") == chain.case.application.first_name.upper()
    assert chain.face.similarity is not None and chain.face.similarity >= 80
    assert chain.face.source_embedding is not None
    assert [r.method for r in chain.liveness] == ["challenge", "replay"]
    assert all(r.passed is not False for r in chain.liveness)
    assert chain.duplicates is not None and chain.duplicates.ran
    assert chain.duplicates.matches == ()
    assert chain.register is None  # the applicant claims no registration
    assert chain.licence is None  # licence validation is off
    assert chain.quality.success
    assert chain.result.decision is Decision.PASS, chain.result.findings
    # Only the warning the "record" liveness policy keeps (no selfie frames landed).
    assert chain.result.reasons == [Reason.LIVENESS_NOT_ASSESSED.value]
    assert [f.severity for f in chain.result.findings] == [Severity.WARNING]


def test_genuine_application_rows(rt: Runtime, genuine: Counted) -> None:
    chain = genuine.chain
    refs = chain.case.refs
    app = refs.application_id
    assert rows(
        rt,
        "select engine, fields->'FIRST_NAME'->>'value' from doc_scans where id_document_id = :d",
        d=refs.id_document_id,
    ) == [(rt.engines.document_reader.name, chain.case.application.first_name.upper())]
    assert rows(
        rt,
        "select matched, similarity >= 80, selfie_id, id_document_id from face_checks"
        " where application_id = :a",
        a=app,
    ) == [(True, True, refs.selfie_id, refs.id_document_id)]
    assert rows(
        rt, "select method from liveness_checks where application_id = :a order by method", a=app
    ) == [("challenge",), ("replay",)]
    assert rows(rt, "select status from reg_checks where application_id = :a", a=app) == [
        ("NOT_REQUIRED",)
    ]
    assert rows(rt, "select success from quality_checks where application_id = :a", a=app) == [
        (True,)
    ]
    assert rows(rt, "select selfie_id from face_embeddings where application_id = :a", a=app) == [
        (refs.selfie_id,)
    ]
    assert chain.duplicates is not None
    assert rows(
        rt,
        "select version, decision, reasons, input_fingerprint, engines->>'duplicate_search'"
        " from kyc_decisions where application_id = :a",
        a=app,
    ) == [
        (
            1,
            "PASS",
            ["LIVENESS_NOT_ASSESSED"],
            chain.case.bundle.fingerprint,
            chain.duplicates.method,
        )
    ]
    assert rows(rt, "select status from id_documents where application_id = :a", a=app) == [
        ("DECIDED",)
    ]
    assert rows(rt, "select status from users where user_id = :u", u=refs.user_id) == [
        ("VERIFIED",)
    ]
    trail = rows(
        rt,
        "select entity, action, from_state, to_state from audit_log"
        " where application_id = :a and entity in ('id_document', 'kyc_decision', 'user')"
        " and action <> 'created' order by audit_id",
        a=app,
    )
    assert [tuple(t) for t in trail] == [
        ("id_document", "status", "NEW", "OCR_DONE"),
        ("id_document", "status", "OCR_DONE", "FACE_DONE"),
        ("id_document", "status", "FACE_DONE", "QUALITY_DONE"),
        ("kyc_decision", "decided", None, "PASS"),
        ("user", "status", "PENDING", "VERIFIED"),
        ("id_document", "status", "QUALITY_DONE", "DECIDED"),
    ]
    recorded = {
        entity
        for (entity,) in rows(rt, "select entity from audit_log where application_id = :a", a=app)
    }
    assert {"doc_scan", "face_check", "liveness_check", "face_embedding", "quality_check",
            "reg_check"} <= recorded  # fmt: skip


def test_each_object_is_read_once(genuine: Counted) -> None:
    assert genuine.reads == Counter(
        {"application.json": 1, "id_document.jpg": 1, "id_document_back.jpg": 1, "selfie.jpg": 1}
    )


def test_each_image_is_decoded_once(genuine: Counted) -> None:
    # The front is decoded by the document reader only (the face matcher and the
    # replay check work on its flattened copy); the selfie once for the matcher,
    # both liveness checks and the duplicate search.
    assert genuine.decodes == Counter({"front": 1, "back": 1, "selfie": 1})


def test_each_face_is_detected_once(genuine: Counted) -> None:
    # The document's face is found once, on the reader's flattened image, and
    # reused by the face matcher and the replay check; the selfie's once, reused by
    # the replay and challenge checks and the duplicate search.
    assert genuine.detections == Counter({"selfie": 1, "id_document (flattened)": 1})
    assert genuine.chain.scan.face_image is not None


def test_impostor_fails_with_face_mismatch(rt: Runtime, impostor: Chain) -> None:
    assert impostor.face.similarity is not None and impostor.face.similarity < 70
    assert impostor.result.decision is Decision.FAIL
    assert Reason.FACE_MISMATCH.value in impostor.result.reasons
    # An unverified face is not searched for, nor enrolled.
    assert impostor.duplicates is None
    assert duplicates.check_duplicates(rt, impostor.case, impostor.face) is None
    app = impostor.case.application_id
    assert rows(rt, "select count(*) from face_embeddings where application_id = :a", a=app) == [
        (0,)
    ]
    assert rows(rt, "select matched from face_checks where application_id = :a", a=app) == [
        (False,)
    ]
    assert rows(
        rt, "select decision from kyc_decisions where application_id = :a and version = 1", a=app
    ) == [("FAIL",)]
    assert rows(
        rt, "select status from users where user_id = :u", u=impostor.case.refs.user_id
    ) == [("REJECTED",)]


def test_deciding_the_same_objects_twice_and_reprocessing(rt: Runtime, impostor: Chain) -> None:
    app = impostor.case.application_id
    with pytest.raises(repo.AlreadyDecided) as raised:
        decide.decide_application(rt, impostor.case, impostor.signals)
    assert raised.value.version == 1

    again = decide.decide_application(rt, impostor.case, impostor.signals, reprocess_of=1)
    assert again.decision is Decision.FAIL
    with session_scope(rt.db) as s:
        versions = repo.list_decisions(s, latest_only=False, application_id=app)
    assert [(v.version, v.reprocess_of, v.decision) for v in versions] == [
        (1, None, "FAIL"),
        (2, 1, "FAIL"),
    ]
    audit = rows(
        rt,
        "select action, detail from audit_log where application_id = :a"
        " and entity = 'kyc_decision' order by audit_id",
        a=app,
    )
    assert [a for a, _ in audit] == ["decided", "reprocessed"]
    assert audit[1][1]["reprocess_of"] == 1 and audit[1][1]["idempotency_bypassed"] is True
    with pytest.raises(ValueError, match="no decision version 7"):
        decide.decide_application(rt, impostor.case, impostor.signals, reprocess_of=7)
