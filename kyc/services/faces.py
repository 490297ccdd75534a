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

    The selfie is compared with the document as the reader flattened it (its face
    detection is reused); when no face is found there, with the front as landed.
    """
    matcher = rt.engines.face_matcher
    images = case.images
    document = images.document_face(scan)
    result = matcher.compare(images.selfie, document)
    if result.similarity is None and document is not images.front:
        # No usable face on the flattened document: the front as landed may still
        # show one (a warp that went wrong); compared rather than given up.
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
