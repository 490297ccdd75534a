"""The register stage through the service: the demo's snapshot register, NONE, not checked."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from kyc.demo.registers import load_demo_register
from kyc.domain.records import DocumentScan, RegisterOutcome, RegisterResult
from kyc.domain.rules import Signals
from kyc.runtime import Runtime
from kyc.services import decide, registers
from kyc.services.case import Case
from kyc.storage.local import LocalStore
from tests.services.conftest import land, open_landed, rows

pytestmark = pytest.mark.db

#: The demo generator's applicant 4 (Noah Walker) and 7 (Arthur Evans): the names
#: the fictional snapshot lists under these numbers.
GMC_DOCTOR = (4, ("GMC", "7123456"))
REMOVED_PHARMACIST = (7, ("GPC", "2999001"))


def _case(
    rt: Runtime, landing: Path, shared: Path, index: int, registration: tuple[str, str | None]
) -> Case:
    landed = land(LocalStore(landing), shared, identity=index, registration=registration)
    return open_landed(rt, str(landing), landed.application_id)


def _decide(rt: Runtime, case: Case, register: RegisterResult | None) -> list[str]:
    """Decide on a document nothing was read from: only the register findings matter here."""
    signals = Signals(
        case.application,
        DocumentScan(fields=MappingProxyType({})),
        face=None,
        quality=None,
        register=register,
    )
    return decide.decide_application(rt, case, signals).reasons


def _reg_checks(rt: Runtime, case: Case) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in rows(
            rt,
            "select reg_type, reg_number, status, matched_name from reg_checks"
            " where application_id = :a order by checked_at",
            a=case.application_id,
        )
    ]


def test_snapshot_register_finds_the_demo_doctor(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    index, registration = GMC_DOCTOR
    case = _case(rt, landing, shared_data, index, registration)
    assert (case.application.first_name, case.application.last_name) == ("Noah", "Walker")

    # No extract loaded yet: the register is unavailable, and that is not cached.
    missing = registers.check_register(rt, case)
    assert missing is not None and missing.outcome is RegisterOutcome.UNAVAILABLE

    assert load_demo_register(rt.db) > 0
    found = registers.check_register(rt, case)
    assert found is not None and found.outcome is RegisterOutcome.FOUND
    assert (found.register, found.number, found.name) == ("GMC", "7123456", "Dr Noah Walker")
    assert found.status == "Registered with a licence to practise"
    assert found.source == rt.engines.register_client.name
    # The answer is cached: the next application with that number reads the cache.
    cached = registers.check_register(rt, _case(rt, landing, shared_data, index, registration))
    assert cached is not None and cached.source == f"{found.source}+cache"
    assert cached.name == found.name

    assert _reg_checks(rt, case) == [
        ("GMC", "7123456", "UNAVAILABLE", None),
        ("GMC", "7123456", "FOUND", "Dr Noah Walker"),
    ]
    reasons = _decide(rt, case, found)
    assert not [r for r in reasons if r.startswith("REGISTER_")], reasons
    # the stage recorded its own row: the decision adds none
    assert len(_reg_checks(rt, case)) == 2


def test_removed_pharmacist_under_the_old_register_name(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    load_demo_register(rt.db)
    index, registration = REMOVED_PHARMACIST
    case = _case(rt, landing, shared_data, index, registration)
    found = registers.check_register(rt, case)
    assert found is not None and found.outcome is RegisterOutcome.FOUND
    assert (found.register, found.status) == ("GPHC", "Removed")
    assert "REGISTER_NOT_ACTIVE" in _decide(rt, case, found)


def test_malformed_number_is_invalid_without_a_look_up(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    case = _case(rt, landing, shared_data, 4, ("NMC", "12345"))
    result = registers.check_register(rt, case)
    assert result is not None and result.outcome is RegisterOutcome.NUMBER_INVALID
    assert _reg_checks(rt, case) == [("NMC", "12345", "NUMBER_INVALID", None)]


def test_no_registration_is_not_checked_and_recorded_not_required(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    case = _case(rt, landing, shared_data, 2, ("NONE", None))
    assert registers.check_register(rt, case) is None
    assert _reg_checks(rt, case) == []
    reasons = _decide(rt, case, None)
    assert "REGISTER_NOT_CHECKED" not in reasons
    assert _reg_checks(rt, case) == [("NONE", None, "NOT_REQUIRED", None)]


def test_claimed_registration_without_a_check_is_recorded_not_run(
    rt: Runtime, landing: Path, shared_data: Path
) -> None:
    index, registration = GMC_DOCTOR
    case = _case(rt, landing, shared_data, index, registration)
    # the register stage failed for good: the decision says so, and records it
    assert "REGISTER_NOT_CHECKED" in _decide(rt, case, None)
    assert _reg_checks(rt, case) == [("GMC", "7123456", "NOT_RUN", None)]
