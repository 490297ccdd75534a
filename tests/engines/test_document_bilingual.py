"""LocalDocumentReader on passport pages with bilingual labels (issue 14).

Pages drawn by kyc.demo.passports: "Surname / Nom", "Apellidos / Surname",
"Name / Surname / Nom"..., names with diacritics, apostrophes and hyphens whose MRZ
holds the ICAO 9303 spelling (MÜLLER -> MUELLER). A genuine page must not be
DOCUMENT_INCONSISTENT; a page whose printed name or number was edited must be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from PIL import Image

from kyc.demo.cards import PassportData, edited_passport
from kyc.demo.passports import PageStyle, encode, page_fonts, render_page
from kyc.domain.application import DocumentType
from kyc.domain.records import DocumentScan, Reason
from kyc.engines.document_local import LocalDocumentReader
from kyc.imaging.mrz_ocr import ocrb_templates

pytestmark = pytest.mark.skipif(
    ocrb_templates() is None, reason="OCR-B font not installed (make system-deps)"
)

PEOPLE = [
    PassportData(
        surname="Müller-Østergård",
        given_names="Jean-Pierre",
        nationality="UTO",
        date_of_birth=dt.date(1974, 8, 12),
        sex="M",
        expiry_date=dt.date(2033, 4, 15),
        issue_date=dt.date(2023, 4, 16),
        document_number="L898902C3",
    ),
    PassportData(
        surname="O'Neill",
        given_names="Siobhán Marie",
        nationality="UTO",
        date_of_birth=dt.date(1988, 1, 30),
        sex="F",
        expiry_date=dt.date(2031, 12, 2),
        issue_date=dt.date(2021, 12, 3),
        document_number="PA4417203",
    ),
    PassportData(
        surname="Gößmann",
        given_names="Zoë",
        nationality="UTO",
        date_of_birth=dt.date(1961, 9, 23),
        sex="F",
        expiry_date=dt.date(2030, 6, 3),
        issue_date=dt.date(2020, 6, 4),
        document_number="C01X00T47",
    ),
]
LAYOUTS = [("en_fr", "rows"), ("en_es", "stacked"), ("en_de", "rows")]


def _style(layout: str, arrangement: str) -> PageStyle:
    fonts = page_fonts()
    return PageStyle(
        layout=layout,
        arrangement=arrangement,
        label_font=fonts[0] if fonts else None,
        value_font=fonts[-1] if fonts else None,
    )


@pytest.fixture(scope="module")
def reader() -> Iterator[LocalDocumentReader]:
    with LocalDocumentReader() as r:
        yield r


def _page(index: int, printed: PassportData | None = None) -> Image.Image:
    layout, arrangement = LAYOUTS[index]
    return render_page(PEOPLE[index], None, _style(layout, arrangement), seed=index, printed=printed)


def _inconsistent(scan: DocumentScan) -> list[str]:
    return [f.detail for f in scan.findings if f.reason is Reason.DOCUMENT_INCONSISTENT]


@pytest.mark.parametrize("index", range(len(PEOPLE)), ids=[f"{a}-{b}" for a, b in LAYOUTS])
def test_genuine_bilingual_page_is_consistent(reader: LocalDocumentReader, index: int) -> None:
    scan = reader.read(encode(_page(index), "png"), document_type=DocumentType.PASSPORT)
    assert scan.findings == ()
    person = PEOPLE[index]
    assert scan.value("DOCUMENT_NUMBER") == person.document_number
    assert scan.value("DATE_OF_BIRTH") == person.date_of_birth.isoformat()


def test_genuine_page_sent_rotated_with_an_exif_tag_is_consistent(
    reader: LocalDocumentReader,
) -> None:
    scan = reader.read(encode(_page(0), "exif6"), document_type=DocumentType.PASSPORT)
    assert scan.findings == ()
    assert scan.value("LAST_NAME") == "MUELLER OESTERGAARD"  # the MRZ's ICAO spelling


@pytest.mark.parametrize(
    ("index", "edit"), [(0, "LAST_NAME"), (1, "DOCUMENT_NUMBER"), (2, "FIRST_NAME")]
)
def test_edited_bilingual_page_is_inconsistent(
    reader: LocalDocumentReader, index: int, edit: str
) -> None:
    page = _page(index, printed=edited_passport(PEOPLE[index], edit))
    scan = reader.read(encode(page, "jpeg"), document_type=DocumentType.PASSPORT)
    assert _inconsistent(scan) == [f"MRZ disagrees with the printed front on: {edit}"]
