"""Driver's licence numbers of US states and Canadian provinces (pure rules).

Used by the local LicenceValidator (``kyc.engines.licence_local``): it cannot ask
the issuer whether a licence exists, but it can tell a number that no issuer
would print (wrong format for the jurisdiction), a number inconsistent with the
holder (where the jurisdiction derives the number from name / date of birth),
and an expired licence.

Formats: the per-jurisdiction tables published by the issuers and collected by
AAMVA members (the widely used "DL format" tables, e.g. the NTSI list of state
driver licence formats, and the provinces' own descriptions). They change
rarely but they do change: a number failing them is LICENCE_NOT_VERIFIED (a
reviewer looks), never a FAIL on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from kyc.domain.application import Application, DocumentType
from kyc.domain.matching import fold, normalise_document_number
from kyc.domain.records import Finding, LicenceClaim, Reason


def licence_claim(app: Application) -> LicenceClaim | None:
    """What a licence validator is asked about this application; None: not a licence.

    Only driving licences are validated (passports and ID cards have no such service).
    """
    doc = app.document
    if doc.type is not DocumentType.DRIVING_LICENCE:
        return None
    return LicenceClaim(
        country=doc.issuing_country,
        region=doc.issuing_region,
        number=doc.number,
        date_of_birth=app.date_of_birth,
        first_name=app.first_name,
        middle_name=app.middle_name,
        last_name=app.last_name,
        expiry_date=doc.expiry_date,
    )


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("^(?:" + "|".join(patterns) + ")$")


A, N = "[A-Z]", "[0-9]"

#: US states + DC: licence number formats (after removing spaces and hyphens).
US_FORMATS: dict[str, re.Pattern[str]] = {
    "AL": _any(f"{N}{{1,8}}"),
    "AK": _any(f"{N}{{1,7}}"),
    "AZ": _any(f"{A}{N}{{1,8}}", f"{A}{{2}}{N}{{2,5}}", f"{N}{{9}}"),
    "AR": _any(f"{N}{{4,9}}"),
    "CA": _any(f"{A}{N}{{7}}"),
    "CO": _any(f"{N}{{9}}", f"{A}{N}{{3,6}}", f"{A}{{2}}{N}{{2,5}}"),
    "CT": _any(f"{N}{{9}}"),
    "DE": _any(f"{N}{{1,7}}"),
    "DC": _any(f"{N}{{7}}", f"{N}{{9}}"),
    "FL": _any(f"{A}{N}{{12}}"),
    "GA": _any(f"{N}{{7,9}}"),
    "HI": _any(f"{A}{N}{{8}}", f"{N}{{9}}"),
    "ID": _any(f"{A}{{2}}{N}{{6}}{A}", f"{N}{{9}}"),
    "IL": _any(f"{A}{N}{{11,12}}"),
    "IN": _any(f"{A}{N}{{9}}", f"{N}{{9,10}}"),
    "IA": _any(f"{N}{{9}}", f"{N}{{3}}{A}{{2}}{N}{{4}}"),
    "KS": _any(f"{A}{N}{A}{N}{A}", f"{A}{N}{{8}}", f"{N}{{9}}"),
    "KY": _any(f"{A}{N}{{8,9}}", f"{N}{{9}}"),
    "LA": _any(f"{N}{{1,9}}"),
    "ME": _any(f"{N}{{7,8}}", f"{N}{{7}}{A}"),
    "MD": _any(f"{A}{N}{{12}}"),
    "MA": _any(f"{A}{N}{{8}}", f"{N}{{9}}"),
    "MI": _any(f"{A}{N}{{10}}", f"{A}{N}{{12}}"),
    "MN": _any(f"{A}{N}{{12}}"),
    "MS": _any(f"{N}{{9}}"),
    "MO": _any(f"{A}{N}{{5,9}}", f"{A}{N}{{6}}R", f"{N}{{8}}{A}{{2}}", f"{N}{{9}}{A}?"),
    "MT": _any(f"{A}{N}{{8}}", f"{N}{{9}}", f"{N}{{13,14}}"),
    "NE": _any(f"{A}{N}{{6,8}}"),
    "NV": _any(f"{N}{{9,10}}", f"{N}{{12}}", f"X{N}{{8}}"),
    "NH": _any(f"{N}{{2}}{A}{{3}}{N}{{5}}"),
    "NJ": _any(f"{A}{N}{{14}}"),
    "NM": _any(f"{N}{{8,9}}"),
    "NY": _any(f"{A}{N}{{7}}", f"{A}{N}{{18}}", f"{N}{{8,9}}", f"{N}{{16}}", f"{A}{{8}}"),
    "NC": _any(f"{N}{{1,12}}"),
    "ND": _any(f"{A}{{3}}{N}{{6}}", f"{N}{{9}}"),
    "OH": _any(f"{A}{N}{{4,8}}", f"{A}{{2}}{N}{{3,7}}", f"{N}{{8}}"),
    "OK": _any(f"{A}{N}{{9}}", f"{N}{{9}}"),
    "OR": _any(f"{N}{{1,9}}", f"{A}{N}{{6}}"),
    "PA": _any(f"{N}{{8}}"),
    "RI": _any(f"{N}{{7}}", f"{A}{N}{{6}}"),
    "SC": _any(f"{N}{{5,11}}"),
    "SD": _any(f"{N}{{6,10}}", f"{N}{{12}}"),
    "TN": _any(f"{N}{{7,9}}"),
    "TX": _any(f"{N}{{7,8}}"),
    "UT": _any(f"{N}{{4,10}}"),
    "VT": _any(f"{N}{{8}}", f"{N}{{7}}A"),
    "VA": _any(f"{A}{N}{{8,11}}", f"{N}{{9}}"),
    # Washington: the legacy 12-character name-derived number, or WDL + 9 characters.
    "WA": _any("[A-Z*]{7}[A-Z0-9*]{5}", "WDL[A-Z0-9]{9}"),
    "WV": _any(f"{N}{{7}}", f"{A}{{1,2}}{N}{{5,6}}"),
    "WI": _any(f"{A}{N}{{13}}"),
    "WY": _any(f"{N}{{9,10}}"),
}

#: Canadian provinces and territories.
CA_FORMATS: dict[str, re.Pattern[str]] = {
    "AB": _any(f"{N}{{5,9}}"),
    "BC": _any(f"{N}{{7}}"),
    "MB": _any("[A-Z0-9]{12}"),
    "NB": _any(f"{N}{{5,7}}"),
    "NL": _any(f"{A}{N}{{9}}"),
    "NS": _any(f"{A}{{5}}{N}{{9}}", f"[A-Z]{{1,4}}[A-Z*]{{0,4}}{N}{{9}}"),
    "ON": _any(f"{A}{N}{{14}}"),
    "PE": _any(f"{N}{{1,6}}"),
    "QC": _any(f"{A}{N}{{12}}"),
    "SK": _any(f"{N}{{8}}"),
    "NT": _any(f"{N}{{6}}"),
    "NU": _any(f"{N}{{6}}"),
    "YT": _any(f"{N}{{1,6}}"),
}

_US = {"US", "USA"}
_CA = {"CA", "CAN"}


def jurisdiction_formats(country: str) -> dict[str, re.Pattern[str]] | None:
    """The format table for a country code (US/USA, CA/CAN), else None."""
    code = country.strip().upper()
    if code in _US:
        return US_FORMATS
    if code in _CA:
        return CA_FORMATS
    return None


def soundex(name: str) -> str:
    """American Soundex of a surname (letter + 3 digits).

    The first four characters of the Soundex-coded licence numbers of Florida,
    Illinois and Wisconsin are this code of the holder's surname.
    """
    letters = fold(name).replace(" ", "")
    if not letters:
        return ""
    codes = {
        **dict.fromkeys("BFPV", "1"),
        **dict.fromkeys("CGJKQSXZ", "2"),
        **dict.fromkeys("DT", "3"),
        "L": "4",
        **dict.fromkeys("MN", "5"),
        "R": "6",
    }
    out = letters[0]
    prev = codes.get(letters[0], "")
    for ch in letters[1:]:
        code = codes.get(ch, "")
        if code and code != prev:
            out += code
        if ch not in "HW":  # H and W do not separate equal codes; vowels do
            prev = code
    return (out + "000")[:4]


@dataclass(frozen=True, slots=True)
class LicenceCheck:
    """Outcome of the local rules for one licence."""

    applicable: bool
    format_valid: bool | None
    #: Derived parts (surname code, date of birth) agree with the holder; None: not derived.
    derived_consistent: bool | None
    expired: bool
    findings: tuple[Finding, ...]
    detail: str = ""


def _ontario_dob(number: str, dob: dt.date) -> bool:
    # Ontario: A1234-56789-YYMMDD; for women the month is increased by 50.
    yymmdd = number[-6:]
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    return yy == dob.year % 100 and dd == dob.day and mm in {dob.month, dob.month + 50}


def check_licence(claim: LicenceClaim, *, today: dt.date) -> LicenceCheck:
    """Apply the jurisdiction's rules to one licence.

    Args:
        claim: the licence as the applicant presents it.
        today: the caller's date (expiry).

    Returns:
        The check. Jurisdictions we have no table for are not applicable (no
        finding: other checks still apply to the document).
    """
    table = jurisdiction_formats(claim.country)
    region = (claim.region or "").strip().upper()
    if table is None or region not in table:
        return LicenceCheck(False, None, None, False, (), "no rules for this jurisdiction")
    number = normalise_document_number(claim.number)
    findings: list[Finding] = []
    fmt_ok = bool(table[region].match(number))
    if not fmt_ok:
        findings.append(
            Finding(Reason.LICENCE_NOT_VERIFIED, f"{region} licence number format not valid")
        )
    derived: bool | None = None
    if fmt_ok:
        surname = fold(claim.last_name).replace(" ", "")
        if region in {"FL", "IL", "WI"}:
            derived = number[:4] == soundex(claim.last_name)
        elif region == "ON":
            derived = number[0] == surname[:1] and _ontario_dob(number, claim.date_of_birth)
        elif region == "QC":
            derived = number[0] == surname[:1]
        if derived is False:
            findings.append(
                Finding(
                    Reason.LICENCE_DATA_MISMATCH,
                    f"{region} licence number does not fit the holder's name / date of birth",
                )
            )
    expired = claim.expiry_date < today
    if expired:
        findings.append(Finding(Reason.LICENCE_NOT_VERIFIED, "licence expired"))
    return LicenceCheck(True, fmt_ok, derived, expired, tuple(findings))
