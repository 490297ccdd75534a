"""Register numbers, status wording and register names (pure rules)."""

import pytest

from kyc.domain.records import Reason, RegisterOutcome, RegisterResult
from kyc.domain.registers import (
    RegisterApplicant,
    Standing,
    assess,
    canonical_register,
    number_problem,
    split_register_name,
    standing,
)


@pytest.mark.parametrize(
    ("register", "number", "ok"),
    [
        ("GMC", "7123456", True),
        ("GMC", "712 3456", True),
        ("GMC", "712345", False),
        ("GMC", "71234567", False),
        ("GMC", "A123456", False),
        ("GDC", "123456", True),
        ("GDC", "12A456", False),
        ("NMC", "01A2345N", True),
        ("NMC", "01a2345n", True),
        ("NMC", "01A2345", False),
        ("NMC", "0AA2345N", False),
        ("GPHC", "2012345", True),
        ("GPC", "2012345", True),
        ("GPHC", "1012345", False),
        ("GPHC", "201234", False),
        ("GMC", None, False),
        ("XYZ", "1234567", False),
    ],
)
def test_number_formats(register, number, ok):
    assert (number_problem(register, number) is None) is ok


def test_problem_detail_names_the_format_not_the_number():
    assert number_problem("NMC", "12345") == "NMC number must be 2 digits, letter, 4 digits, letter"


def test_gpc_is_an_alias_of_gphc():
    assert canonical_register("GPC") == "GPHC"
    assert canonical_register("GPhC") == "GPHC"
    assert canonical_register("HCPC") is None


@pytest.mark.parametrize(
    ("register", "status", "conditions", "expected"),
    [
        ("GMC", "Registered with a licence to practise", (), Standing.REGISTERED),
        ("GMC", "Registered without a licence to practise", (), Standing.NOT_ACTIVE),
        ("GMC", "Erased", (), Standing.NOT_ACTIVE),
        ("GMC", "Suspended", (), Standing.NOT_ACTIVE),
        ("GMC", "Registered with a licence to practise", ("Undertakings",), Standing.CONDITIONS),
        ("GMC", "Registered with conditions", (), Standing.CONDITIONS),
        ("GDC", "Registered", (), Standing.REGISTERED),
        ("GDC", "Removed", (), Standing.NOT_ACTIVE),
        ("NMC", "Registered", (), Standing.REGISTERED),
        ("NMC", "Lapsed", (), Standing.NOT_ACTIVE),
        ("NMC", "Struck off", (), Standing.NOT_ACTIVE),
        ("NMC", "Registered - interim conditions of practice", (), Standing.CONDITIONS),
        ("GPHC", "Registered", (), Standing.REGISTERED),
        ("GPC", "Voluntarily removed", (), Standing.NOT_ACTIVE),
        ("GPHC", "Registered", ("Warning issued 2024",), Standing.CONDITIONS),
        ("GMC", "Provisionally something", (), Standing.UNKNOWN),
        ("GMC", "Suspended", ("Conditions",), Standing.NOT_ACTIVE),
        ("GPHC", "Inactive", (), Standing.NOT_ACTIVE),
        ("GDC", "Deregistered", (), Standing.NOT_ACTIVE),
        ("NMC", "No longer registered", (), Standing.NOT_ACTIVE),
        ("NMC", "Not currently practising", (), Standing.NOT_ACTIVE),
        ("NMC", "Interim suspension order", (), Standing.NOT_ACTIVE),
        ("NMC", "Voluntarily removed", (), Standing.NOT_ACTIVE),
        ("NMC", "Undertakings", (), Standing.CONDITIONS),
        ("NMC", "Sanction pending", (), Standing.CONDITIONS),
    ],
)
def test_status_mapping_per_register(register, status, conditions, expected):
    assert standing(register, status, conditions) is expected


def test_register_name_split_keeps_double_barrelled_surname():
    assert split_register_name("Dr Olivia Jane Smith Jones", "Smith-Jones") == ("OLIVIA JANE", "SMITH JONES")
    assert split_register_name("Olivia Smith", "Brown") == ("OLIVIA", "SMITH")


def _app(first="Olivia", last="Smith"):
    return RegisterApplicant("GMC", "7123456", first, None, last)


def _res(outcome=RegisterOutcome.FOUND, name="Olivia Smith", status="Registered with a licence to practise"):
    return RegisterResult("GMC", "7123456", outcome, name=name, status=status)


def test_assess_registered_same_person_has_no_findings():
    assert assess(_app(), _res()) == []


def test_assess_accents_and_case_are_the_same_name():
    assert assess(_app(first="olívia"), _res(name="OLIVIA SMITH")) == []


def test_assess_other_name_on_the_register():
    [f] = assess(_app(), _res(name="Amelia Jones"))
    assert f.reason is Reason.REGISTER_NAME_MISMATCH


def test_assess_outcomes():
    assert assess(_app(), None)[0].reason is Reason.REGISTER_NOT_CHECKED
    assert assess(_app(), _res(RegisterOutcome.NOT_FOUND))[0].reason is Reason.REGISTER_NOT_FOUND
    assert assess(_app(), _res(RegisterOutcome.UNAVAILABLE))[0].reason is Reason.REGISTER_UNAVAILABLE
    assert assess(_app(), _res(RegisterOutcome.NUMBER_INVALID))[0].reason is Reason.REGISTER_NUMBER_INVALID
    assert assess(_app(), _res(status="Erased"))[0].reason is Reason.REGISTER_NOT_ACTIVE


def test_result_round_trips_through_json():
    import datetime as dt

    r = RegisterResult("NMC", "01A2345N", RegisterOutcome.FOUND, name="A B", status="Registered",
                       conditions=("Caution",), snapshot_date=dt.date(2026, 1, 2), source="http")
    assert RegisterResult.from_dict(r.as_dict()) == r
