"""parse_aamva against every public AAMVA payload in shared/data/pdf417/aamva_text.

Ground truth is each folder's expected.json (transcribed from the source repos'
tests). Two IdParser edge-case files have ``expected: null`` there; their expected
values are the ones IdParser's DriversLicenseTests.cs asserts (TestInvalidHeader,
TestLeadingWhitespace), written out below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kyc.domain.aamva import AamvaError, parse_aamva
from kyc.settings import get_settings

AAMVA_DIR = get_settings().shared_data_dir / "pdf417" / "aamva_text"

#: IdParser's Version enum names -> AAMVA version numbers.
VERSIONS = {
    "Version.Aamva2000": 1,
    "Version.Aamva2003": 2,
    "Version.Aamva2005": 3,
    "Version.Aamva2009": 4,
    "Version.Aamva2010": 5,
    "Version.Aamva2011": 6,
    "Version.Aamva2012": 7,
    "Version.Aamva2013": 8,
    "Version.Aamva2016": 9,
    "Version.Aamva2020": 10,
}

#: IdParser asserts for the two files whose expected.json entry is null.
IDPARSER_EXTRA: dict[str, dict[str, Any]] = {
    "misc/Invalid_Header.txt": {
        "Name": {"First": "MICHAEL", "Middle": "G", "Last": "MOTORIST"},
        "Address": {
            "StreetLine1": "12 MAIN AVE",
            "City": "WEST HAVEN",
            "JurisdictionCode": "CT",
            "PostalCode": "06516",
            "Country": "Country.Usa",
        },
        "DateOfBirth": "1961-02-04",
        "Sex": "Sex.Male",
        "IdNumber": "025995434",
        "AamvaVersionNumber": "Version.Aamva2000",
        "IssueDate": "2016-11-14",
        "ExpirationDate": "2023-02-04",
        "Jurisdiction": {"VehicleClass": "D"},
    },
    "misc/Leading_Whitespace.txt": {
        "Name": {"First": "MOTORIST", "Middle": "R", "Last": "SHEEHAN"},
        "Address": {
            "StreetLine1": "2 ROBERTS DRIVE",
            "City": "PLYMOUTH",
            "JurisdictionCode": "MA",
            "PostalCode": "023601234",
            "Country": "Country.Usa",
        },
        "DateOfBirth": "1939-12-07",
        "Sex": "Sex.Male",
        "IdNumber": "S58239477",
        "AamvaVersionNumber": "Version.Aamva2009",
        "IssueDate": "2014-11-14",
        "ExpirationDate": "2018-12-07",
        "Jurisdiction": {"VehicleClass": "DM", "RestrictionCodes": "B"},
    },
}


def _need_data() -> None:
    if not AAMVA_DIR.is_dir():
        pytest.skip(f"shared AAMVA payloads not found at {AAMVA_DIR}")


def _read(path: Path) -> str:
    # Byte-exact copies; some start with a UTF-8 BOM (the parser must cope).
    return path.read_bytes().decode("utf-8")


def _expected(folder: str) -> list[dict[str, Any]]:
    path = AAMVA_DIR / folder / "expected.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text())["samples"]


def _cases(folder: str) -> list[Any]:
    if not AAMVA_DIR.is_dir():
        return [pytest.param(None, id=f"{folder}-missing")]
    return [pytest.param(s, id=s["file"]) for s in _expected(folder)]


def test_every_payload_file_is_covered() -> None:
    """No payload on disk escapes the parametrised tests below."""
    _need_data()
    on_disk = {p.relative_to(AAMVA_DIR).as_posix() for p in AAMVA_DIR.rglob("*.txt")}
    listed = {
        f"{folder}/{s['file']}"
        for folder in ("idparser", "aamvajs", "aamva_barcode_library")
        for s in _expected(folder)
    }
    assert on_disk - listed == set()


# --- c0shea/IdParser -------------------------------------------------------------------


def test_piped_payload_equals_the_lf_one() -> None:
    """MA_Piped (no expectation in the repo) is MA_2009 with "|" as separator."""
    _need_data()
    piped = parse_aamva(_read(AAMVA_DIR / "idparser" / "licenses" / "MA_Piped.txt"))
    plain = parse_aamva(_read(AAMVA_DIR / "idparser" / "licenses" / "MA_2009.txt"))
    assert dict(piped.raw_elements) == dict(plain.raw_elements)
    assert dict(piped.fields) == dict(plain.fields)


def _sex(expr: str) -> str:
    return {"Sex.Male": "M", "Sex.Female": "F"}[expr]


@pytest.mark.parametrize("sample", _cases("idparser"))
def test_idparser_payloads(sample: dict[str, Any] | None) -> None:
    _need_data()
    assert sample is not None
    result = parse_aamva(_read(AAMVA_DIR / "idparser" / sample["file"]))
    exp = sample["expected"] or IDPARSER_EXTRA.get(sample["file"])
    if exp is None:
        assert sample["file"] == "licenses/MA_Piped.txt"  # see test_piped_payload_...
        return
    if sample["expected_type"] == "Name":  # the test only checks the name parts
        exp = {"Name": exp}
    name = exp["Name"]
    assert result.value("LAST_NAME") == name["Last"].upper()
    assert result.value("FIRST_NAME") == name["First"].upper()
    assert result.value("MIDDLE_NAME") == (name["Middle"].upper() if name.get("Middle") else None)
    assert result.value("SUFFIX") == (name["Suffix"].upper() if name.get("Suffix") else None)
    if sample["expected_type"] == "Name":
        return

    assert result.value("DATE_OF_BIRTH") == exp["DateOfBirth"]
    assert result.value("EXPIRATION_DATE") == exp["ExpirationDate"]
    assert result.value("DATE_OF_ISSUE") == exp.get("IssueDate")
    assert result.value("DOCUMENT_NUMBER") == exp["IdNumber"]
    assert result.version == VERSIONS[exp["AamvaVersionNumber"]]
    if "Sex" in exp:
        assert result.sex == _sex(exp["Sex"])

    address = exp["Address"]
    # ADDRESS is both street lines, inner runs of spaces collapsed.
    street = " ".join(address["StreetLine1"].split() + address.get("StreetLine2", "").split())
    assert result.value("ADDRESS") == street
    assert result.value("CITY_IN_ADDRESS") == address["City"]
    assert result.value("STATE_IN_ADDRESS") == address["JurisdictionCode"]
    zip_value = result.value("ZIP_CODE_IN_ADDRESS")
    assert zip_value is not None
    if address["Country"] == "Country.Canada":
        assert result.country == "CAN"
        assert zip_value.replace(" ", "") == address["PostalCode"]
    else:
        assert result.country == "USA"
        assert zip_value == address["PostalCode"][:5]
        assert re.sub(r"\D", "", result.fields["ZIP_CODE_IN_ADDRESS"].text).startswith(
            address["PostalCode"]
        )

    is_id = sample["expected_type"] == "IdentificationCard"
    expected_id_type = "ID CARD" if is_id else "DRIVER LICENSE"
    assert result.value("ID_TYPE") == expected_id_type
    vehicle_class = exp.get("Jurisdiction", {}).get("VehicleClass")
    if vehicle_class:
        assert result.value("CLASS") == vehicle_class
    for f in result.fields.values():
        assert f.source == "barcode"
        assert f.confidence == 99.0


# --- winfinit/aamvajs (separators stripped in most) ----------------------------------


@pytest.mark.parametrize("sample", _cases("aamvajs"))
def test_aamvajs_payloads(sample: dict[str, Any] | None) -> None:
    _need_data()
    assert sample is not None
    result = parse_aamva(_read(AAMVA_DIR / "aamvajs" / sample["file"]))
    exp = sample["expected"]

    def iso(yyyymmdd: str) -> str:
        return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"

    assert result.value("LAST_NAME") == exp["name.last"]
    # aamvajs keeps first + middle together when the payload has one given-names
    # element (NH: DCT "JOHN A"); we split it like AnalyzeID does.
    given = " ".join(v for v in (result.value("FIRST_NAME"), result.value("MIDDLE_NAME")) if v)
    assert exp["name.first"] in (result.value("FIRST_NAME"), given)
    assert result.value("DATE_OF_BIRTH") == iso(exp["birthday"])
    if "expiration_date" in exp:
        assert result.value("EXPIRATION_DATE") == iso(exp["expiration_date"])
    assert result.value("ADDRESS") == exp["address"]
    assert result.value("STATE_IN_ADDRESS") == exp["state"]
    assert result.value("ZIP_CODE_IN_ADDRESS") == exp["postal_code"]
    assert result.sex == {"MALE": "M", "FEMALE": "F"}[exp["sex"]]
    if "id" in exp:  # aamvajs strips the dashes of the number
        assert (result.value("DOCUMENT_NUMBER") or "").replace("-", "") == exp["id"]


def test_aamvajs_nh_bad_dates_are_dropped_with_a_warning() -> None:
    """DBA 11111112 / DBD 03016013 are not dates: left out, not guessed, not fatal."""
    _need_data()
    result = parse_aamva(_read(AAMVA_DIR / "aamvajs" / "PDF417_NH.txt"))
    assert "EXPIRATION_DATE" not in result.fields
    assert "DATE_OF_ISSUE" not in result.fields
    assert {w.split(":")[0] for w in result.warnings} == {"DBA", "DBD"}


# --- benhovinga/aamva_barcode_library (header, designators, every element) ------------


@pytest.mark.parametrize("sample", _cases("aamva_barcode_library"))
def test_standard_examples_every_element(sample: dict[str, Any] | None) -> None:
    _need_data()
    assert sample is not None
    result = parse_aamva(_read(AAMVA_DIR / "aamva_barcode_library" / sample["file"]))
    assert result.version == sample["aamva_version"]
    assert result.issuer_id == str(sample["header"]["issuer_id"])
    assert result.subfile_type == sample["designators"][0]["subfile_type"]
    for subfile in sample["subfiles"]:
        for eid, value in subfile["elements"].items():
            # raw_elements drops trailing padding only.
            assert result.raw_elements[eid] == value.rstrip(), eid


def test_v10_example_fields() -> None:
    _need_data()
    result = parse_aamva(_read(AAMVA_DIR / "aamva_barcode_library" / "aamva_v10_example.txt"))
    assert result.jurisdiction == "VA"
    values = {k: f.value for k, f in result.fields.items()}
    assert values == {
        "LAST_NAME": "SAMPLE",
        "FIRST_NAME": "MICHAEL",
        "MIDDLE_NAME": "JOHN",
        "SUFFIX": "JR",
        "DATE_OF_BIRTH": "1986-06-06",
        "EXPIRATION_DATE": "2024-12-10",
        "DATE_OF_ISSUE": "2019-06-06",
        "DOCUMENT_NUMBER": "T64235789",
        "ADDRESS": "2300 WEST BROAD STREET",
        "CITY_IN_ADDRESS": "RICHMOND",
        "STATE_IN_ADDRESS": "VA",
        "ZIP_CODE_IN_ADDRESS": "23269",
        "CLASS": "D",
        "RESTRICTIONS": "K",
        "ENDORSEMENTS": "PH",
        "ID_TYPE": "DRIVER LICENSE",
    }
    assert result.fields["ZIP_CODE_IN_ADDRESS"].text == "232690000"
    assert result.fields["DATE_OF_BIRTH"].text == "06061986"


def test_v01_dates_are_ccyymmdd() -> None:
    _need_data()
    result = parse_aamva(_read(AAMVA_DIR / "aamva_barcode_library" / "aamva_v01_example.txt"))
    assert result.version == 1
    assert result.value("DATE_OF_BIRTH") == "1976-11-23"
    assert result.value("LAST_NAME") == "PUBLIC"  # from DAA "PUBLIC,JOHN,Q"
    assert result.value("MIDDLE_NAME") == "Q"


# --- synthetic edge cases (no shared data needed) -------------------------------------

V10 = (
    "@\n\x1e\rANSI 636014100001DL00310160DLDAQD1234567\nDCSSMITH-JONES\nDDEN\nDACJOSE\n"
    "DDFN\nDADNONE\nDDGN\nDCAC\nDCBNONE\nDCDNONE\nDBD01022020\nDBB12311985\n"
    "DBA12312028\nDBC1\nDAYBRO\nDAU070 IN\nDAG1 MAIN ST\nDAISACRAMENTO\nDAJCA\n"
    "DAK958180000  \nDCFX\nDCGUSA\r"
)


def test_synthetic_v10_and_none_middle() -> None:
    r = parse_aamva(V10)
    assert r.jurisdiction == "CA"
    assert r.value("LAST_NAME") == "SMITH-JONES"
    assert "MIDDLE_NAME" not in r.fields  # "NONE" means no middle name
    assert r.value("DATE_OF_BIRTH") == "1985-12-31"
    assert r.value("DATE_OF_ISSUE") == "2020-01-02"
    assert r.sex == "M"


def test_canadian_dates_are_ccyymmdd() -> None:
    payload = (
        V10.replace("636014", "636012")
        .replace("DAJCA", "DAJON")
        .replace("DCGUSA", "DCGCAN")
        .replace("DBB12311985", "DBB19850102")
    )
    r = parse_aamva(payload)
    assert r.country == "CAN"
    assert r.jurisdiction == "ON"
    assert r.value("DATE_OF_BIRTH") == "1985-01-02"  # not 1985-01-02 read as MMDD


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("hello world, not a licence", "no '@'"),
        ("@\n\x1e\rANSI 6360", "no '@'"),
        ("\x00\x01\x02\xff" * 20, "no '@'"),
        ("@\n\x1e\rANSI 636014100001DL00310160", "no data elements"),
    ],
)
def test_garbage_raises(payload: str, message: str) -> None:
    with pytest.raises(AamvaError, match=re.escape(message)):
        parse_aamva(payload)


def test_truncated_payload_names_missing_elements() -> None:
    cut = V10[: V10.index("DBB")]  # DOB and everything after are lost
    with pytest.raises(AamvaError) as info:
        parse_aamva(cut)
    assert "DATE_OF_BIRTH" in str(info.value)
    assert "LAST_NAME" not in str(info.value)


def test_missing_number_and_names() -> None:
    payload = "@\n\x1e\rANSI 636014100001DL00310040DLDBB12311985\nDCGUSA\r"
    with pytest.raises(AamvaError) as info:
        parse_aamva(payload)
    for key in ("LAST_NAME", "FIRST_NAME", "DOCUMENT_NUMBER"):
        assert key in str(info.value)


def test_invalid_dob_is_missing() -> None:
    with pytest.raises(AamvaError, match="DATE_OF_BIRTH"):
        parse_aamva(V10.replace("DBB12311985", "DBB99999999"))


def test_iin_table_agrees_with_samples() -> None:
    """The IIN -> jurisdiction table matches DAJ wherever the samples show both."""
    _need_data()
    from kyc.domain.aamva import IIN_JURISDICTIONS

    checked = 0
    for path in AAMVA_DIR.rglob("*.txt"):
        try:
            r = parse_aamva(_read(path))
        except AamvaError:
            continue
        if r.issuer_id in IIN_JURISDICTIONS:
            assert r.jurisdiction == r.value("STATE_IN_ADDRESS"), path.name
            checked += 1
    assert checked > 50
