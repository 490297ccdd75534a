"""Data-quality gate: the parsed document fields against the Great Expectations suite."""

from __future__ import annotations

import datetime as dt

from kyc.domain.application import Application
from kyc.domain.records import DocumentScan, QualityResult
from kyc.quality.gate import GateTicket
from kyc.runtime import Runtime


def submit_quality(rt: Runtime, app: Application, scan: DocumentScan) -> GateTicket:
    """Queue the parsed fields for the gate; they are validated on ``result()``.

    The batch submits right after the document scan and asks for the result just
    before the decision, so that rows of applications in flight meanwhile share one
    GX run (see :meth:`kyc.quality.gate.QualityGate.submit`).
    """
    return rt.gate.submit(scan, document_type=app.document.type, today=dt.date.today())


def check_quality(rt: Runtime, app: Application, scan: DocumentScan) -> QualityResult:
    """Validate the parsed fields now (the result is recorded with the decision).

    Recorded by :func:`kyc.services.decide.decide_application`, in the decision's own
    transaction: a gate result without a decision helps nobody.
    """
    return submit_quality(rt, app, scan).result()
