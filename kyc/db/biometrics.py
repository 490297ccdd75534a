"""Repository functions for liveness checks and verified face embeddings.

Like :mod:`kyc.db.repository`: session first, keyword-only arguments, the caller's
transaction, no business logic (which matches count as duplicates is decided in
:mod:`kyc.domain.duplicates`), an audit row per write with ids only.

The face search uses pgvector's HNSW index (``ix_face_embeddings_embedding_hnsw``,
built by migration 0002 where the extension exists) and otherwise an exact scan in
plain SQL; which one a database offers is looked up once per database and the scan
is announced with one log line.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kyc.db.models import FaceEmbedding, LivenessCheck
from kyc.db.repository import audit
from kyc.domain.records import LivenessResult

logger = logging.getLogger(__name__)

HNSW_INDEX = "ix_face_embeddings_embedding_hnsw"
#: Dimension of the stored embeddings (dlib's ResNet descriptor).
EMBEDDING_DIM = 128
#: Transaction advisory lock serialising "search, then enrol" of faces, so that two
#: applications with the same face processed at once cannot miss each other.
_FACE_LOCK = (0x6B7963, 0x66616365)  # ("kyc", "face")
#: HNSW candidates examined per search (pgvector's hnsw.ef_search; default 40).
#: make bench-duplicates, 100,000 synthetic 128-d faces on a loaded 2-core machine:
#: 100 -> recall@1 0.69, p50 14 ms; 200 -> 0.80, 17 ms; 400 -> 0.89, 28 ms;
#: 800 -> 0.93, 75 ms. Isotropic random vectors are HNSW's worst case; real face
#: embeddings cluster, but the recall on them is not measured yet.
EF_SEARCH = 200

_methods: dict[str, str] = {}
_methods_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FaceMatchRow:
    """An earlier user's enrolled face near the query, with that user's identity."""

    user_id: uuid.UUID
    application_id: str
    distance: float
    first_name: str
    middle_name: str | None
    last_name: str
    date_of_birth: dt.date


def record_liveness_checks(
    session: Session, *, application_id: str, results: Sequence[LivenessResult]
) -> list[uuid.UUID]:
    """Store one row per liveness method that ran; returns their ids.

    Raises:
        ValueError: a confidence is NaN, infinite or outside 0-100.
    """
    ids: list[uuid.UUID] = []
    for result in results:
        if result.confidence is not None and not (
            math.isfinite(result.confidence) and 0 <= result.confidence <= 100
        ):
            raise ValueError(f"liveness confidence must be within 0-100, got {result.confidence}")
        data = result.as_dict()
        row = LivenessCheck(
            liveness_check_id=uuid.uuid4(),
            application_id=application_id,
            method=result.method,
            engine=result.engine,
            engine_version=result.engine_version,
            passed=result.passed,
            confidence=result.confidence,
            findings=data["findings"],
            details=data["details"],
            timings_ms=data["timings_ms"],
        )
        session.add(row)
        state = {True: "PASSED", False: "FAILED", None: "NOT_ASSESSED"}[result.passed]
        audit(
            session,
            application_id=application_id,
            entity="liveness_check",
            entity_id=str(row.liveness_check_id),
            action="recorded",
            to_state=state,
            detail={"method": result.method, "engine": result.engine},
        )
        ids.append(row.liveness_check_id)
    session.flush()
    return ids


def search_method(session: Session) -> str:
    """``hnsw`` when this database has the pgvector index, else ``exact`` (cached).

    The first time a database without the index is seen, one warning says so.
    """
    bind = session.get_bind()
    key = bind.engine.url.render_as_string(hide_password=True)
    with _methods_lock:
        found = _methods.get(key)
    if found is not None:
        return found
    has_index = session.execute(
        sa.text("SELECT 1 FROM pg_indexes WHERE indexname = :name"), {"name": HNSW_INDEX}
    ).first()
    method = "hnsw" if has_index else "exact"
    with _methods_lock:
        if key not in _methods and method == "exact":
            logger.warning(
                "pgvector index %s is not available on this database: the duplicate-identity "
                "search scans every stored face (exact, slower with many users)",
                HNSW_INDEX,
            )
        _methods[key] = method
    return method


def lock_face_enrolment(session: Session) -> None:
    """Serialise face search + enrolment until this transaction ends."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(*_FACE_LOCK)))


def _vector_literal(embedding: Sequence[float]) -> str:
    if len(embedding) != EMBEDDING_DIM:
        raise ValueError(f"embedding must have {EMBEDDING_DIM} values, got {len(embedding)}")
    if not all(math.isfinite(x) for x in embedding):
        raise ValueError("embedding contains NaN or infinity")
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


def find_similar_faces(
    session: Session,
    *,
    embedding: Sequence[float],
    engine: str,
    user_id: uuid.UUID,
    max_distance: float,
    limit: int = 10,
    method: str | None = None,
) -> tuple[list[FaceMatchRow], str]:
    """Faces of other users enrolled before this user's first one, within a distance.

    "Before" is by enrolment order (the identity column): a user who re-applies is
    compared with the faces that existed when they first enrolled, so an earlier
    user is never flagged because of someone who enrolled after them.

    Args:
        session: an open session.
        embedding: the applicant's face embedding (128 values).
        engine: the face engine that made it (embeddings of other engines differ).
        user_id: the applicant's user (their own faces are not matches).
        max_distance: Euclidean distance at or under which faces match.
        limit: at most this many matches, nearest first.
        method: ``hnsw`` or ``exact``; default: what the database offers.

    Returns:
        (matches nearest first, the method used).
    """
    method = method or search_method(session)
    params: dict[str, object] = {
        "q": _vector_literal(embedding),
        "engine": engine,
        "me": user_id,
        "limit": limit,
    }
    cutoff = """
        e.engine = :engine AND e.user_id <> :me
        AND e.face_embedding_id < coalesce(
            (SELECT min(face_embedding_id) FROM face_embeddings WHERE user_id = :me),
            9223372036854775807)
    """
    if method == "hnsw":
        session.execute(sa.text(f"SET LOCAL hnsw.ef_search = {int(EF_SEARCH)}"))
        # pgvector >= 0.8: keep scanning the graph when filters remove candidates.
        # Older pgvector (managed services lag) rejects the setting: then go without.
        session.execute(
            sa.text(
                "DO $$ BEGIN PERFORM set_config('hnsw.iterative_scan', 'relaxed_order', true); "
                "EXCEPTION WHEN OTHERS THEN NULL; END $$"
            )
        )
        distance = "(e.embedding::vector(128) <-> CAST(:q AS vector(128)))"
        stmt = f"""
            SELECT * FROM (
                SELECT e.user_id, e.application_id, {distance} AS distance
                FROM face_embeddings e
                WHERE {cutoff}
                ORDER BY e.embedding::vector(128) <-> CAST(:q AS vector(128))
                LIMIT :limit
            ) near
        """
    else:
        stmt = f"""
            SELECT e.user_id, e.application_id, sqrt(d.sq) AS distance
            FROM face_embeddings e,
                 LATERAL (SELECT sum((a - b) * (a - b)) AS sq
                          FROM unnest(e.embedding, CAST(:qa AS real[])) AS t(a, b)) d
            WHERE {cutoff}
            ORDER BY d.sq
            LIMIT :limit
        """
        params["qa"] = [float(x) for x in embedding]
    query = f"""
        SELECT n.user_id, n.application_id, n.distance,
               u.first_name, u.middle_name, u.last_name, u.date_of_birth
        FROM ({stmt}) n JOIN users u ON u.user_id = n.user_id
        WHERE n.distance <= :max_distance
        ORDER BY n.distance
    """
    params["max_distance"] = max_distance
    rows = session.execute(sa.text(query), params).all()
    return [
        FaceMatchRow(
            user_id=r.user_id,
            application_id=r.application_id,
            distance=float(r.distance),
            first_name=r.first_name,
            middle_name=r.middle_name,
            last_name=r.last_name,
            date_of_birth=r.date_of_birth,
        )
        for r in rows
    ], method


def enrol_face(
    session: Session,
    *,
    application_id: str,
    user_id: uuid.UUID,
    selfie_id: uuid.UUID,
    engine: str,
    embedding: Sequence[float],
) -> int:
    """Store a verified selfie's embedding (once per selfie); returns its id."""
    _vector_literal(embedding)  # validates length and finiteness
    existing = session.execute(
        sa.select(FaceEmbedding.face_embedding_id).where(FaceEmbedding.selfie_id == selfie_id)
    ).scalar()
    if existing is not None:
        return int(existing)
    row = FaceEmbedding(
        application_id=application_id,
        user_id=user_id,
        selfie_id=selfie_id,
        engine=engine,
        embedding=[float(x) for x in embedding],
    )
    session.add(row)
    session.flush()
    audit(
        session,
        application_id=application_id,
        entity="face_embedding",
        entity_id=str(row.face_embedding_id),
        action="enrolled",
        detail={"selfie_id": str(selfie_id), "engine": engine},
    )
    session.flush()
    return int(row.face_embedding_id)


__all__ = [
    "EMBEDDING_DIM",
    "HNSW_INDEX",
    "FaceMatchRow",
    "enrol_face",
    "find_similar_faces",
    "lock_face_enrolment",
    "record_liveness_checks",
    "search_method",
]
