"""Duplicate identities: the verified selfie searched among earlier users, then enrolled."""

from __future__ import annotations

from kyc.db import biometrics
from kyc.db.engine import session_scope
from kyc.domain.duplicates import (
    Candidate,
    Identity,
    classify,
    identity_of,
    may_enrol,
    needs_search,
    search_not_possible,
)
from kyc.domain.records import DuplicateCheck, FaceComparison, LivenessResult
from kyc.runtime import Runtime
from kyc.services.case import Case


def check_duplicates(
    rt: Runtime,
    case: Case,
    face: FaceComparison | None,
    liveness: tuple[LivenessResult, ...] = (),
) -> DuplicateCheck | None:
    """Search earlier users' verified faces for this selfie, then enrol it.

    Returns:
        None when no search applies (see :func:`kyc.domain.duplicates.needs_search`);
        a check that did not run, visibly, when the face engine gives no embedding
        (Rekognition); otherwise the matches, classified.
    """
    settings = rt.settings
    if face is None or not needs_search(face, match_threshold=settings.face_match_threshold):
        return None
    if face.source_embedding is None:
        return search_not_possible(face.engine)
    # The distance scale is the local matcher's (embeddings exist only with it).
    from kyc.engines.face_local import similarity_to_distance

    refs = case.refs
    with session_scope(rt.db) as s:
        biometrics.lock_face_enrolment(s)
        rows, method = biometrics.find_similar_faces(
            s,
            embedding=face.source_embedding,
            engine=face.engine,
            user_id=refs.user_id,
            max_distance=similarity_to_distance(settings.face_match_threshold),
        )
        if may_enrol(liveness):
            biometrics.enrol_face(
                s,
                application_id=refs.application_id,
                user_id=refs.user_id,
                selfie_id=refs.selfie_id,
                engine=face.engine,
                embedding=face.source_embedding,
            )
    return classify(
        identity_of(case.application),
        [
            Candidate(
                user_id=str(r.user_id),
                application_id=r.application_id,
                distance=r.distance,
                identity=Identity(r.first_name, r.last_name, r.date_of_birth, r.middle_name),
            )
            for r in rows
        ],
        name_threshold=settings.name_match_threshold,
        method=method,
    )
