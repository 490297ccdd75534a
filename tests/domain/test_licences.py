"""Licence-number rules for US states and Canadian provinces."""

import datetime as dt

import pytest

from kyc.domain.licences import check_licence, soundex
from kyc.domain.records import LicenceClaim, Reason

TODAY = dt.date(2026, 11, 23)


def claim(country="US", region="CA", number="D1234567", last="Smith", dob=dt.date(1990, 4, 1),
          expiry=dt.date(2030, 1, 1)):
    return LicenceClaim(country, region, number, dob, "Olivia", last, expiry)


@pytest.mark.parametrize(
    ("country", "region", "number", "ok"),
    [
        ("US", "CA", "D1234567", True),
        ("USA", "CA", "12345678", False),
        ("US", "TX", "12345678", True),
        ("US", "TX", "D1234567", False),
        ("US", "NY", "D1234567", True),
        ("US", "NY", "123456789", True),
        ("US", "PA", "1234567", False),
        ("US", "NH", "12ABC34567", True),
        ("CA", "BC", "1234567", True),
        ("CAN", "QC", "S123456789012", True),
        ("CA", "SK", "1234567", False),
    ],
)
def test_formats(country, region, number, ok):
    result = check_licence(claim(country, region, number, last="Smith"), today=TODAY)
    assert result.applicable
    assert result.format_valid is ok
    assert (Reason.LICENCE_NOT_VERIFIED in {f.reason for f in result.findings}) is (not ok)


def test_soundex_reference_values():
    # Reference values of American Soundex (US National Archives examples).
    assert soundex("Robert") == "R163"
    assert soundex("Rupert") == "R163"
    assert soundex("Tymczak") == "T522"
    assert soundex("Pfister") == "P236"
    assert soundex("Ashcraft") == "A261"


def test_florida_number_derived_from_surname():
    good = check_licence(claim(region="FL", number="S530123456789"), today=TODAY)
    bad = check_licence(claim(region="FL", number="J520123456789"), today=TODAY)
    assert good.derived_consistent is True and not good.findings
    assert bad.derived_consistent is False
    assert {f.reason for f in bad.findings} == {Reason.LICENCE_DATA_MISMATCH}


def test_ontario_number_carries_surname_initial_and_birth_date():
    ok = check_licence(claim("CA", "ON", "S1234-56789-00401", dob=dt.date(1990, 4, 1)), today=TODAY)
    woman = check_licence(claim("CA", "ON", "S1234-56789-05401", dob=dt.date(1990, 4, 1)), today=TODAY)
    wrong = check_licence(claim("CA", "ON", "S1234-56789-10401", dob=dt.date(1990, 4, 1)), today=TODAY)
    assert ok.derived_consistent and woman.derived_consistent
    assert wrong.derived_consistent is False


def test_expired_licence_is_not_verified():
    result = check_licence(claim(expiry=dt.date(2026, 11, 22)), today=TODAY)
    assert result.expired
    assert [f.reason for f in result.findings] == [Reason.LICENCE_NOT_VERIFIED]


def test_other_countries_are_not_covered():
    result = check_licence(claim("GB", None, "SMITH901010AB9CD"), today=TODAY)
    assert not result.applicable and not result.findings
