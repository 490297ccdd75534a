"""Licence validation: a driving licence checked with the configured validator, recorded."""

from __future__ import annotations

import datetime as dt

from kyc.db import register_repository as rrepo
from kyc.db.engine import session_scope
from kyc.domain.licences import licence_claim
from kyc.domain.records import LicenceResult
from kyc.runtime import Runtime
from kyc.services.case import Case


def validate_licence(rt: Runtime, case: Case) -> LicenceResult | None:
    """Validate a driving licence with the configured validator and record the result.

    Returns:
        The result; None when validation is off or the document is not a licence.
    """
    validator = rt.engines.licence_validator
    claim = licence_claim(case.application)
    if validator is None or claim is None:
        return None
    result = validator.validate(claim, today=dt.date.today())
    with session_scope(rt.db) as s:
        rrepo.record_licence_check(s, application_id=case.refs.application_id, result=result)
    return result
