"""The printed-text field parser (kyc.domain.printed): OCR words -> AnalyzeID fields.

Pure: words are built by hand here; reading real images with Tesseract is tested in
tests/engines/test_document_local*.py.
"""

from __future__ import annotations

import pytest

from kyc.domain.application import DocumentType
from kyc.domain.printed import OcrWord, dates_month_first, extract_fields, repair_licence_number


def _words(*lines: str, conf: float = 90.0) -> list[OcrWord]:
    return [OcrWord(token, conf, n) for n, line in enumerate(lines) for token in line.split()]


def test_extract_numbered_labels_and_month_first() -> None:
    fields = extract_fields(
        _words(
            "4d DLN A1234567", "1 LN DOE", "2 FN JANE Q", "3 DOB 02/03/1990", "4b EXP 02/03/2030"
        ),
        month_first=True,
    )
    assert fields["DOCUMENT_NUMBER"].value == "A1234567"
    assert fields["LAST_NAME"].value == "DOE"
    assert fields["FIRST_NAME"].value == "JANE"
    assert fields["MIDDLE_NAME"].value == "Q"
    assert fields["DATE_OF_BIRTH"].value == "1990-02-03"
    assert fields["EXPIRATION_DATE"].value == "2030-02-03"


def test_extract_day_first_labels_above_values() -> None:
    fields = extract_fields(
        _words(
            "Surname",
            "MÜLLER",
            "Given names",
            "ERIKA",
            "Date of birth",
            "12.08.1964",
            "Date of expiry",
            "31/10/2031",
            "Document No",
            "C01X00T47",
        ),
        month_first=False,
    )
    assert fields["LAST_NAME"].value == "MÜLLER"
    assert fields["FIRST_NAME"].value == "ERIKA"
    assert fields["DATE_OF_BIRTH"].value == "1964-08-12"
    assert fields["EXPIRATION_DATE"].value == "2031-10-31"
    assert fields["DOCUMENT_NUMBER"].value == "C01X00T47"


def test_a_dollar_sign_in_a_document_number_is_an_s() -> None:
    # Tesseract's reading of a printed S in the passport number's font.
    fields = extract_fields(_words("Passport No", "$U3004583"), month_first=False)
    assert fields["DOCUMENT_NUMBER"].value == "SU3004583"


def test_fuzzy_labels_never_eat_values() -> None:
    """DOE is one edit from DOB, but where a value is due it is the value."""
    fields = extract_fields(_words("LN DOE", "Surname", "DOE", "EXP 01/02/2030"), month_first=True)
    assert fields["LAST_NAME"].value == "DOE"
    assert "DATE_OF_BIRTH" not in fields
    fields = extract_fields(_words("Surname", "DOE"), month_first=True)
    assert fields["LAST_NAME"].value == "DOE"


def test_month_names_are_never_fuzzy_labels() -> None:
    """SEP is one edit from SEX: in a date it is the month, not a label ending the value."""
    fields = extract_fields(
        _words("Date of birth", "12 SEP 1962", "Date of expiry", "23 DEC 2033"),
        month_first=False,
    )
    assert fields["DATE_OF_BIRTH"].value == "1962-09-12"
    assert fields["EXPIRATION_DATE"].value == "2033-12-23"


def test_extract_dates_fall_back_to_the_valid_order_and_month_names() -> None:
    fields = extract_fields(
        _words("DOB 31/12/1985", "EXP 05 MAR 2030", "ISS 2020-01-02"), month_first=True
    )
    assert fields["DATE_OF_BIRTH"].value == "1985-12-31"  # 31 cannot be a month
    assert fields["EXPIRATION_DATE"].value == "2030-03-05"
    assert fields["DATE_OF_ISSUE"].value == "2020-01-02"


def test_extract_dates_with_misread_labels_go_by_life_order() -> None:
    fields = extract_fields(
        _words("pos 11/23/1972", "exq 11/23/2027", "iss 08/01/2019", "xy D7654321"),
        month_first=True,
    )
    assert fields["DATE_OF_BIRTH"].value == "1972-11-23"
    assert fields["DATE_OF_ISSUE"].value == "2019-08-01"
    assert fields["EXPIRATION_DATE"].value == "2027-11-23"  # EXQ is one edit from EXP
    assert fields["DOCUMENT_NUMBER"].value == "D7654321"


def test_extract_splits_labels_glued_to_values() -> None:
    fields = extract_fields(
        _words("DL-N5711915", "DOB12/19/1972", "ISS\u201405/12/2016", "LN DLUGOSZ"),
        month_first=True,
    )
    assert fields["DOCUMENT_NUMBER"].value == "N5711915"
    assert fields["DATE_OF_ISSUE"].value == "2016-05-12"
    assert fields["DATE_OF_BIRTH"].value == "1972-12-19"
    assert fields["LAST_NAME"].value == "DLUGOSZ"


@pytest.mark.parametrize(
    "line", ["SEX-F\u2014CLASS-C", "SEX-F\u2014-CLASS-\u20ac", "SEX-F\u2014 CLASS-C", "SEX M_CLASS C",
             "SEX-F\u2014GLASS-C"],
)  # fmt: skip
def test_labels_glued_across_dashes_are_split(line: str) -> None:
    """Over a guilloche Tesseract reads the gaps of ``SEX F  CLASS C`` as dashes."""
    fields = extract_fields(_words(line), month_first=True)
    assert fields["CLASS"].value == "C"


def test_dashed_names_numbers_and_dates_stay_whole() -> None:
    fields = extract_fields(
        _words("LN ANNE-LIS", "DL D123-456", "DOB 05-12-1970"), month_first=True
    )
    assert fields["LAST_NAME"].value == "ANNE-LIS"  # LIS is one edit from LIC: not split
    assert fields["DOCUMENT_NUMBER"].value == "D123-456"
    assert fields["DATE_OF_BIRTH"].value == "1970-05-12"


def test_class_is_a_short_code_not_the_next_line() -> None:
    fields = extract_fields(_words("SEX F CLASS", "SS 11/30/2023"), month_first=True)
    assert "CLASS" not in fields


@pytest.mark.parametrize(
    ("read", "state", "expected"),
    [
        ("13736357", "CA", "I3736357"),  # CA: one letter + seven digits
        ("I3736357", "CA", "I3736357"),  # fits: kept
        ("138736357", "CA", "138736357"),  # no single repair fits: kept
        ("13736357", "NY", "13736357"),  # NY also issues 8-digit numbers: kept
        ("G1234567", "TX", "G1234567"),  # letters where digits are due: never changed
        ("01234567", "CA", "01234567"),  # 0 could be O, D or Q: kept
        ("5123-456-78-910-0", "FL", "S123-456-78-910-0"),  # separators kept
        ("1234567", "ZZ", "1234567"),  # unknown state
    ],
)
def test_licence_number_repair_by_state_format(read: str, state: str, expected: str) -> None:
    assert repair_licence_number(read, state) == expected


def test_extract_repairs_the_number_by_the_address_state() -> None:
    fields = extract_fields(
        _words("DL 13736357", "1 MAIN ST", "SACRAMENTO, CA 95814"), month_first=True
    )
    assert fields["DOCUMENT_NUMBER"].value == "I3736357"
    fields = extract_fields(
        _words("DL 13736357", "1 MAIN ST", "ALBANY, NY 12207"), month_first=True
    )
    assert fields["DOCUMENT_NUMBER"].value == "13736357"


def test_extract_confidence_is_mean_of_value_words() -> None:
    words = [
        OcrWord("LN", 99.0, 0),
        OcrWord("VAN", 60.0, 0),
        OcrWord("DYKE", 80.0, 0),
    ]
    fields = extract_fields(words, month_first=True)
    assert fields["LAST_NAME"].value == "VAN DYKE"
    assert fields["LAST_NAME"].confidence == pytest.approx(70.0)


def test_extract_nothing_from_noise() -> None:
    assert extract_fields(_words("=t x an Od", "LUNN"), month_first=True) == {}


@pytest.mark.parametrize(
    ("lines", "document_type", "expected"),
    [
        (("DL D1234567", "DOB 02/03/1990"), DocumentType.DRIVING_LICENCE, True),
        (("DL D1234567", "DOB 02/03/1990"), None, True),
        (("PASSPORT", "Date of birth 02/03/1990"), DocumentType.PASSPORT, False),
        (("IDENTITY CARD", "Date of birth 02/03/1990"), DocumentType.ID_CARD, False),
        (("PASSPORT USA", "Date of birth 02/03/1990"), DocumentType.PASSPORT, True),
        (("ID CARD", "1 MAIN ST", "ALBANY, NY 12207"), DocumentType.ID_CARD, True),
        (("United States of America", "PASSPORT"), DocumentType.PASSPORT, True),
    ],
)
def test_dates_are_month_first_on_licences_and_us_documents(
    lines: tuple[str, ...], document_type: DocumentType | None, expected: bool
) -> None:
    assert dates_month_first(_words(*lines), document_type) is expected
