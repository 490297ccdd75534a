"""Liveness: every configured method over the application's evidence, one row per method."""

from __future__ import annotations

from kyc.db import biometrics
from kyc.db.engine import session_scope
from kyc.domain.records import DocumentScan, LivenessEvidence, LivenessResult
from kyc.runtime import Runtime
from kyc.services.case import Case


def check_liveness(
    rt: Runtime, case: Case, scan: DocumentScan | None = None
) -> tuple[LivenessResult, ...]:
    """Run every configured liveness method and record one row per method.

    The evidence carries the Pictures the other stages use (the selfie the matcher
    detected a face in, the document's portrait crop or front), so no image is
    decoded or searched for a face again.
    """
    images = case.images
    evidence = LivenessEvidence(
        selfie=images.selfie,
        document=images.document_face(scan),
        frames=images.frames,
        session_id=case.application.liveness_session_id,
    )
    results = tuple(c.check(evidence) for c in rt.engines.liveness_checkers)
    with session_scope(rt.db) as s:
        biometrics.record_liveness_checks(
            s, application_id=case.refs.application_id, results=results
        )
    return results
