"""Decision: every signal through the rules, recorded with its trail in one transaction."""

from __future__ import annotations

import datetime as dt

from kyc import metrics
from kyc.db import repository as repo
from kyc.db.engine import session_scope
from kyc.domain.records import DecisionResult
from kyc.domain.registers import unchecked_status
from kyc.domain.rules import Signals, Thresholds, decide, engine_labels
from kyc.runtime import Runtime
from kyc.services.case import Case
from kyc.services.intake import advance


def decide_application(
    rt: Runtime, case: Case, signals: Signals, *, reprocess_of: int | None = None
) -> DecisionResult:
    """Apply the decision rules; record the gate result and the decision with its trail.

    Args:
        rt: the runtime.
        case: the application.
        signals: everything the stages learned (see :class:`kyc.domain.rules.Signals`).
        reprocess_of: reprocessing only: record a new version on objects that may have
            been decided already (see :func:`kyc.db.repository.record_decision`).

    Raises:
        AlreadyDecided: another run recorded a decision on these objects meanwhile.
    """
    settings = rt.settings
    now = dt.datetime.now(dt.UTC)
    result = decide(
        signals, thresholds=Thresholds.from_settings(settings), today=now.date(), now=now
    )
    engines = engine_labels(
        rt.versions(),
        liveness_policy=settings.liveness_policy,
        liveness=signals.liveness,
        duplicates=signals.duplicates,
    )
    refs, registration = case.refs, case.application.registration
    with session_scope(rt.db) as s:
        if signals.quality is not None:
            repo.record_quality(s, application_id=refs.application_id, result=signals.quality)
            advance(s, refs, "QUALITY_DONE")
        # The register stage records its own row; when it could not run (or there is
        # nothing to check) that is recorded too, so nothing is skipped silently.
        if signals.register is None:
            repo.record_reg_check(
                s,
                application_id=refs.application_id,
                user_id=refs.user_id,
                reg_type=registration.type.value,
                reg_number=registration.number,
                status=unchecked_status(registration.type.value),
            )
        repo.record_decision(
            s,
            application_id=refs.application_id,
            user_id=refs.user_id,
            result=result,
            engines=engines,
            input_fingerprint=case.bundle.fingerprint,
            reprocess_of=reprocess_of,
        )
    metrics.count_decision(result.decision.value, result.reasons, source="pipeline")
    return result
