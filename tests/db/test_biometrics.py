"""Liveness rows, face enrolment and the duplicate-face search, on every server.

The embedded PostgreSQL 18 has pgvector (HNSW index); a stock PostgreSQL 15 named by
KYC_TEST_DATABASE_URL does not (exact scan). Both must give the same answers.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from types import MappingProxyType

import numpy as np
import pytest
import sqlalchemy as sa

from kyc.db import biometrics as bio
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.db.models import LivenessCheck
from kyc.domain.records import DuplicateMatch, Finding, LivenessResult, Reason
from tests.db.test_repository import make_application, make_decision, new_app_id, register

pytestmark = pytest.mark.db

RNG = np.random.default_rng(11)


def unit(vec: np.ndarray) -> list[float]:
    return [float(x) for x in vec / np.linalg.norm(vec)]


def near(vec: list[float], distance: float) -> list[float]:
    """A vector at exactly ``distance`` from ``vec``."""
    step = RNG.normal(size=128)
    step -= step.dot(vec) * np.asarray(vec)  # orthogonal, so the distance is exact
    return [float(x) for x in np.asarray(vec) + distance * step / np.linalg.norm(step)]


def enrolled_user(db_engine: sa.Engine, embedding: list[float], **app_kw: str):
    app = make_application(new_app_id(), **app_kw)
    with session_scope(db_engine) as s:
        refs = register(s, app, uuid.uuid4().hex)
        bio.enrol_face(s, application_id=app.application_id, user_id=refs.user_id,
                       selfie_id=refs.selfie_id, engine="local-dlib", embedding=embedding)
    return app, refs


def has_pgvector(db_engine: sa.Engine) -> bool:
    with db_engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).first() is not None


def search(db_engine, embedding, user_id, method=None, max_distance=0.6):
    with session_scope(db_engine) as s:
        bio.lock_face_enrolment(s)
        return bio.find_similar_faces(s, embedding=embedding, engine="local-dlib", user_id=user_id,
                                      max_distance=max_distance, method=method)


def test_liveness_checks_are_recorded_per_method(db_engine: sa.Engine) -> None:
    app = make_application(new_app_id())
    results = [
        LivenessResult(passed=None, method="replay", engine="local-replay", engine_version="1",
                       details=MappingProxyType({"portrait_ncc": 0.41})),
        LivenessResult(passed=True, method="aws-face-liveness", confidence=97.5, engine="aws", engine_version="2"),
        LivenessResult(passed=False, method="challenge", engine="local-challenge", engine_version="3",
                       findings=(Finding(Reason.LIVENESS_FAILED, "no blink"),)),
    ]
    with session_scope(db_engine) as s:
        register(s, app, "fp")
        ids = bio.record_liveness_checks(s, application_id=app.application_id, results=results)
    with session_scope(db_engine) as s:
        rows = {r.method: r for r in s.scalars(sa.select(LivenessCheck).where(LivenessCheck.liveness_check_id.in_(ids)))}
    assert rows["replay"].passed is None and rows["replay"].details == {"portrait_ncc": 0.41}
    assert rows["aws-face-liveness"].confidence == 97.5 and rows["aws-face-liveness"].passed is True
    assert rows["challenge"].findings == [{"code": "LIVENESS_FAILED", "detail": "no blink"}]
    with pytest.raises(ValueError, match="0-100"), session_scope(db_engine) as s:
        bio.record_liveness_checks(s, application_id=app.application_id,
                                   results=[dataclasses.replace(results[1], confidence=150.0)])


def test_search_finds_earlier_users_only_within_the_distance(db_engine: sa.Engine) -> None:
    face = unit(RNG.normal(size=128))
    _, first = enrolled_user(db_engine, face, first_name="Aisha")
    _, far = enrolled_user(db_engine, near(face, 0.9))
    _, me = enrolled_user(db_engine, near(face, 0.3), first_name="Zara")
    _, later = enrolled_user(db_engine, near(face, 0.1))  # enrolled after me: not "existing"

    matches, method = search(db_engine, near(face, 0.3), me.user_id)
    assert method == ("hnsw" if has_pgvector(db_engine) else "exact")
    assert [m.user_id for m in matches] == [first.user_id]
    assert matches[0].distance == pytest.approx(0.3, abs=1e-3)  # stored as real: ~1e-6
    assert (matches[0].first_name, matches[0].last_name) == ("Aisha", "Okafor")

    # The earlier user, re-searching, never sees those who enrolled after them.
    matches, _ = search(db_engine, face, first.user_id)
    assert matches == []
    # A brand-new user (nothing enrolled yet) sees everyone within the distance.
    matches, _ = search(db_engine, face, uuid.uuid4(), max_distance=0.5)
    assert {m.user_id for m in matches} == {first.user_id, me.user_id, later.user_id}
    assert far.user_id not in {m.user_id for m in matches}


def test_index_and_exact_scan_agree(db_engine: sa.Engine) -> None:
    if not has_pgvector(db_engine):
        pytest.skip("pgvector not on this server (the exact scan is tested above)")
    face = unit(RNG.normal(size=128))
    for d in (0.2, 0.35, 0.5, 0.8):
        enrolled_user(db_engine, near(face, d))
    stranger = uuid.uuid4()
    hnsw, _ = search(db_engine, face, stranger, method="hnsw")
    exact, _ = search(db_engine, face, stranger, method="exact")
    assert [m.user_id for m in hnsw] == [m.user_id for m in exact]
    assert len(hnsw) >= 3
    assert [round(m.distance, 4) for m in hnsw] == [round(m.distance, 4) for m in exact]


def test_exact_scan_is_announced_once(db_engine: sa.Engine, caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bio, "_methods", {})
    monkeypatch.setattr(bio, "HNSW_INDEX", "ix_that_does_not_exist")
    with caplog.at_level(logging.WARNING, logger="kyc.db.biometrics"):
        for _ in range(3):
            with session_scope(db_engine) as s:
                assert bio.search_method(s) == "exact"
    lines = [r for r in caplog.records if "scans every stored face" in r.getMessage()]
    assert len(lines) == 1


def test_enrolment_is_once_per_selfie_and_validated(db_engine: sa.Engine) -> None:
    face = unit(RNG.normal(size=128))
    app, refs = enrolled_user(db_engine, face)
    with session_scope(db_engine) as s:
        again = bio.enrol_face(s, application_id=app.application_id, user_id=refs.user_id,
                               selfie_id=refs.selfie_id, engine="local-dlib", embedding=face)
        count = s.execute(sa.text("SELECT count(*) FROM face_embeddings WHERE selfie_id = :s"),
                          {"s": refs.selfie_id}).scalar()
    assert count == 1 and again > 0
    with pytest.raises(ValueError, match="128"), session_scope(db_engine) as s:
        bio.enrol_face(s, application_id=app.application_id, user_id=refs.user_id,
                       selfie_id=uuid.uuid4(), engine="local-dlib", embedding=face[:10])
    with pytest.raises(ValueError, match="NaN"), session_scope(db_engine) as s:
        bio.enrol_face(s, application_id=app.application_id, user_id=refs.user_id,
                       selfie_id=uuid.uuid4(), engine="local-dlib", embedding=[float("nan")] * 128)


def test_decision_keeps_the_other_users_of_a_duplicate_identity(db_engine: sa.Engine) -> None:
    app = make_application(new_app_id())
    other = DuplicateMatch(user_id=str(uuid.uuid4()), application_id="app-earlier", distance=0.31234,
                           same_identity=False)
    result = dataclasses.replace(make_decision(reasons=(Reason.DUPLICATE_IDENTITY,)), duplicate_of=(other,))
    with session_scope(db_engine) as s:
        refs = register(s, app, "fp")
        repo.record_decision(s, application_id=app.application_id, user_id=refs.user_id, result=result,
                             engines={}, input_fingerprint="fp")
    with session_scope(db_engine) as s:
        (row,) = repo.list_decisions(s, application_id=app.application_id)
    assert row.as_json()["duplicate_of"] == [other.as_dict()]
    assert row.as_json()["duplicate_of"][0]["distance"] == 0.3123
