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
