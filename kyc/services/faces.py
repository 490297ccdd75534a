"""Face match: the selfie against the document's face, recorded (id_document -> FACE_DONE)."""

from __future__ import annotations

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.records import DocumentScan, FaceComparison
from kyc.runtime import Runtime
from kyc.services.case import Case
from kyc.services.intake import advance


def match_face(rt: Runtime, case: Case, scan: DocumentScan | None = None) -> FaceComparison:
    """Compare the selfie with the document face and record the comparison.

    The document reader's portrait crop is compared when it made one; when no face
    is found in the crop, the whole front is tried.
    """
    matcher = rt.engines.face_matcher
    images = case.images
    result = None
    if scan is not None and scan.portrait is not None:
        result = matcher.compare(images.selfie, images.document_face(scan))
    if result is None or result.similarity is None:
        result = matcher.compare(images.selfie, images.front)
    threshold = rt.settings.face_match_threshold
    matched = None if result.similarity is None else result.similarity >= threshold
    refs = case.refs
    with session_scope(rt.db) as s:
        repo.record_face_check(
            s,
            application_id=refs.application_id,
            selfie_id=refs.selfie_id,
            id_document_id=refs.id_document_id,
            result=result,
            matched=matched,
        )
        advance(s, refs, "FACE_DONE")
    return result
