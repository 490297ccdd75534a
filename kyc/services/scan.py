"""Document scan: read the identity document, record the scan (id_document -> OCR_DONE)."""

from __future__ import annotations

from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.records import DocumentScan
from kyc.runtime import Runtime
from kyc.services.case import Case
from kyc.services.intake import advance


def scan_document(rt: Runtime, case: Case) -> DocumentScan:
    """Read the document's front (and back) with the configured reader and record it.

    Returns:
        The scan; an unreadable image is a scan with DOCUMENT_UNREADABLE, not an error.
    """
    images = case.images
    scan = rt.engines.document_reader.read(
        images.front, back=images.back, document_type=case.application.document.type
    )
    with session_scope(rt.db) as s:
        repo.record_doc_scan(s, id_document_id=case.refs.id_document_id, scan=scan)
        advance(s, case.refs, "OCR_DONE")
    return scan
