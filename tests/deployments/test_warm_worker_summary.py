"""The warm worker's one line per run (deployments/warm_worker.py: run_summary)."""

from __future__ import annotations

from prefect.states import Completed, Failed

from deployments.warm_worker import run_summary
from kyc.domain.records import Outcome, OutcomeStatus


def test_a_decided_application_is_one_line_of_ids_and_codes() -> None:
    outcome = Outcome("app-1", OutcomeStatus.DECIDED, "FAIL", ("FACE_MISMATCH", "NAME_MISMATCH"))
    assert run_summary(Completed(data=outcome)) == (
        "application app-1 DECIDED FAIL FACE_MISMATCH,NAME_MISMATCH"
    )
    waiting = Outcome("app-2", OutcomeStatus.INCOMPLETE, detail="missing selfie")
    assert run_summary(Completed(data=waiting)) == "application app-2 INCOMPLETE"


def test_a_batch_is_counted_and_a_failure_says_so() -> None:
    batch = [
        Outcome("a", OutcomeStatus.DECIDED, "PASS"),
        Outcome("b", OutcomeStatus.DECIDED, "PASS"),
        Outcome("c", OutcomeStatus.DEAD_LETTER, detail="APPLICATION_INVALID"),
    ]
    assert run_summary(Completed(data=batch)) == "3 applications: DEAD_LETTER 1, PASS 2"
    assert run_summary(Failed(message="database unavailable")) == "Failed: database unavailable"
