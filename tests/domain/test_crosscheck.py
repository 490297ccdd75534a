"""Barcode / MRZ vs printed-front cross-checks (pure)."""

from __future__ import annotations

from kyc.domain.crosscheck import cross_check, disagreements
from kyc.domain.records import DocumentField, Reason


def _fields(conf: float = 95.0, source: str = "ocr", **values: str) -> dict[str, DocumentField]:
    return {k: DocumentField(v, v, conf, source) for k, v in values.items()}


CODED = _fields(
    99.0,
    "barcode",
    LAST_NAME="SMITH-JONES",
    FIRST_NAME="JOSE",
    DATE_OF_BIRTH="1985-12-31",
    DOCUMENT_NUMBER="D1234567",
    EXPIRATION_DATE="2029-12-31",
)


def test_agreeing_sides_give_nothing() -> None:
    printed = _fields(
        LAST_NAME="SMITH-JONES",
        FIRST_NAME="JOSÉ",  # accents printed, folded in the barcode
        DATE_OF_BIRTH="1985-12-31",
        DOCUMENT_NUMBER="D 123 4567",  # printed with spaces
        EXPIRATION_DATE="2029-12-31",
    )
    assert cross_check(CODED, printed, zone="barcode") is None


def test_tampered_front_names_the_fields_not_the_values() -> None:
    printed = _fields(
        LAST_NAME="SMITH-JONES",
        FIRST_NAME="JOSE",
        DATE_OF_BIRTH="1995-12-31",
        DOCUMENT_NUMBER="D7654321",
        EXPIRATION_DATE="2029-12-31",
    )
    finding = cross_check(CODED, printed, zone="MRZ")
    assert finding is not None and finding.reason is Reason.DOCUMENT_INCONSISTENT
    assert finding.detail == "MRZ disagrees with the printed front on: DATE_OF_BIRTH, DOCUMENT_NUMBER"
    assert "1995" not in finding.detail and "D7654321" not in finding.detail


def test_truncated_coded_names_agree_with_the_full_printed_name() -> None:
    coded = _fields(99.0, "mrz", LAST_NAME="UNITED KINGDOM TWENTY SIX", FIRST_NAME="JODIE")
    printed = _fields(LAST_NAME="UNITED KINGDOM TWENTY SIX EXTRA", FIRST_NAME="JODIE PIPPA")
    assert disagreements(coded, printed) == []
    assert disagreements(coded, _fields(LAST_NAME="UNITED", FIRST_NAME="JOHN")) == [
        "LAST_NAME",
        "FIRST_NAME",
    ]


def test_document_number_lookalikes_are_not_tampering() -> None:
    coded = _fields(99.0, "barcode", DOCUMENT_NUMBER="I9306674")
    assert disagreements(coded, _fields(DOCUMENT_NUMBER="19306674")) == []
    assert disagreements(coded, _fields(DOCUMENT_NUMBER="19306675")) == ["DOCUMENT_NUMBER"]


def test_low_confidence_or_missing_printed_fields_are_not_evidence() -> None:
    printed = _fields(40.0, DATE_OF_BIRTH="1995-12-31") | _fields(LAST_NAME="SMITH-JONES")
    assert disagreements(CODED, printed) == []
    assert disagreements(CODED, {}) == []


def test_names_agree_under_icao_transliteration() -> None:
    coded = _fields(99.0, "mrz", LAST_NAME="MUELLER OESTERGAARD", FIRST_NAME="SEAN")
    printed = _fields(LAST_NAME="MÜLLER-ØSTERGÅRD", FIRST_NAME="SEÁN")
    assert disagreements(coded, printed) == []
    # OCR lost the diacritics: still the same name.
    assert disagreements(coded, _fields(LAST_NAME="MULLER-OSTERGARD")) == []
    apostrophe = _fields(99.0, "mrz", LAST_NAME="ONEILL")
    assert disagreements(apostrophe, _fields(LAST_NAME="O'NEILL")) == []
    assert disagreements(apostrophe, _fields(LAST_NAME="O'NEAL")) == ["LAST_NAME"]


def test_letters_read_as_lookalike_digits_but_never_digit_edits() -> None:
    coded = _fields(99.0, "mrz", DOCUMENT_NUMBER="6S1068034")
    assert disagreements(coded, _fields(DOCUMENT_NUMBER="681068034")) == []  # S read 8
    five = _fields(99.0, "mrz", DOCUMENT_NUMBER="651068034")
    assert disagreements(five, _fields(DOCUMENT_NUMBER="681068034")) == ["DOCUMENT_NUMBER"]


def test_a_number_cut_by_the_mrz_field_agrees_with_the_whole_printed_one() -> None:
    coded = _fields(99.0, "mrz", DOCUMENT_NUMBER="555123ABC")  # nine characters: the field
    assert disagreements(coded, _fields(DOCUMENT_NUMBER="555123ABC12")) == []
    short = _fields(99.0, "mrz", DOCUMENT_NUMBER="55123ABC")
    assert disagreements(short, _fields(DOCUMENT_NUMBER="55123ABC12")) == ["DOCUMENT_NUMBER"]


def test_hyphenated_given_names_agree_with_the_mrz_first_part() -> None:
    # MRZ "ANN<MARIE": FIRST_NAME ANN; the page prints ANN-MARIE as one word.
    coded = _fields(99.0, "mrz", FIRST_NAME="ANN")
    assert disagreements(coded, _fields(FIRST_NAME="ANN-MARIE")) == []
    assert disagreements(coded, _fields(FIRST_NAME="ANNA")) == ["FIRST_NAME"]
    assert disagreements(coded, _fields(FIRST_NAME="JO-ANNE")) == ["FIRST_NAME"]
