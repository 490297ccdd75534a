"""LocalDocumentReader on synthetic licences (kyc.demo.cards) and the CA DMV specimen.

Faces are real public photos from shared/data/faces (never copied into the repo).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pdf417gen
import pytest
from PIL import Image

from kyc.demo.cards import (
    CardData,
    aamva_payload,
    barcode_name,
    degrade,
    render_licence_back,
    render_licence_front,
)
from kyc.domain.aamva import parse_aamva
from kyc.domain.application import DocumentType
from kyc.domain.records import DocumentScan, Reason
from kyc.engines.document_local import LocalDocumentReader
from kyc.settings import get_settings

SHARED = get_settings().shared_data_dir
FACES = SHARED / "faces"
CA_SPECIMEN = SHARED / "pdf417" / "images" / "dl_specimens"

CARDS = [
    # Accented first and middle names, hyphenated surname.
    CardData(
        first_name="José",
        middle_name="María",
        last_name="Smith-Jones",
        date_of_birth=dt.date(1985, 12, 31),
        expiry_date=dt.date(2029, 12, 31),
        issue_date=dt.date(2021, 1, 2),
        document_number="D1234567",
        address_line="1234 Oak Street",
        city="Sacramento",
        state="CA",
        postal_code="95818",
        sex="M",
    ),
    # No middle name, ZIP+4, New York.
    CardData(
        first_name="Olivia",
        middle_name=None,
        last_name="Taylor",
        date_of_birth=dt.date(1990, 3, 7),
        expiry_date=dt.date(2031, 3, 7),
        issue_date=dt.date(2023, 5, 19),
        document_number="Y7654321",
        address_line="88 Pine Ave Apt 4",
        city="Albany",
        state="NY",
        postal_code="12207-1234",
        sex="F",
        jurisdiction="NY",
    ),
    # Apostrophe, AAMVA sex code, Texas.
    CardData(
        first_name="Noah",
        middle_name="James",
        last_name="O'Brien",
        date_of_birth=dt.date(1972, 11, 23),
        expiry_date=dt.date(2027, 11, 23),
        issue_date=dt.date(2019, 8, 1),
        document_number="T09871234",
        address_line="5 Elm St",
        city="Austin",
        state="TX",
        postal_code="78701",
        sex="1",
        jurisdiction="TX",
    ),
    # Umlauts/diaeresis, hyphenated middle name, long number, leap day, Florida.
    CardData(
        first_name="Zoë",
        middle_name="Anne-Marie",
        last_name="Müller",
        date_of_birth=dt.date(2001, 6, 15),
        expiry_date=dt.date(2028, 6, 15),
        issue_date=dt.date(2020, 2, 29),
        document_number="M123456789012",
        address_line="4400 Ocean Dr",
        city="Miami Beach",
        state="FL",
        postal_code="33139",
        sex="F",
        jurisdiction="FL",
    ),
]
FACE_FOLDERS = ["deepface_angelina", "facerec_obama", "deepface_jack", "faceapi_penny"]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared test data not found at {path}")


@pytest.fixture(scope="module")
def reader() -> Iterator[LocalDocumentReader]:
    with LocalDocumentReader() as r:
        yield r


@pytest.fixture(scope="module")
def rendered() -> list[tuple[CardData, bytes, bytes]]:
    """(card, front JPEG, back JPEG) for every card, each with a different real face."""
    _need(FACES)
    out = []
    for i, (card, folder) in enumerate(zip(CARDS, FACE_FOLDERS, strict=True)):
        face_path = sorted((FACES / folder).glob("*.jpg"))[0]
        with Image.open(face_path) as face:
            front = render_licence_front(card, face, seed=i)
        out.append((card, front, render_licence_back(card, seed=i)))
    return out


def _unreadable(scan: DocumentScan) -> list[str]:
    return [f.detail for f in scan.findings if f.reason is Reason.DOCUMENT_UNREADABLE]


# --- renderer ----------------------------------------------------------------------------


def test_rendered_images_are_id1_jpegs(rendered: list[tuple[CardData, bytes, bytes]]) -> None:
    for _, front, back in rendered:
        for data in (front, back):
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == "JPEG"
                assert img.size == (1012, 638)


@pytest.mark.parametrize("card", CARDS, ids=lambda c: c.last_name)
def test_payload_round_trips_through_parser(card: CardData) -> None:
    result = parse_aamva(aamva_payload(card))
    assert result.version == 10
    assert result.jurisdiction == card.jurisdiction
    assert result.value("LAST_NAME") == barcode_name(card.last_name)
    assert result.value("FIRST_NAME") == barcode_name(card.first_name)
    assert result.value("MIDDLE_NAME") == (
        barcode_name(card.middle_name) if card.middle_name else None
    )
    assert result.value("DATE_OF_BIRTH") == card.date_of_birth.isoformat()
    # The barcode carries ASCII only (what DMVs encode); the front keeps accents.
    assert aamva_payload(card).isascii()


def test_long_names_are_truncated_and_flagged() -> None:
    long_last = "Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"
    result = parse_aamva(aamva_payload(dataclasses.replace(CARDS[0], last_name=long_last)))
    assert result.value("LAST_NAME") == barcode_name(long_last)[:40]
    assert result.raw_elements["DDE"] == "T"


def test_degrade_makes_a_different_jpeg(rendered: list[tuple[CardData, bytes, bytes]]) -> None:
    _, front, _ = rendered[0]
    worse = degrade(front, blur=2, jpeg_quality=30, tilt_deg=4)
    with Image.open(io.BytesIO(worse)) as img:
        assert img.format == "JPEG"
        assert img.width > 1012  # rotation with expand grows the canvas
    assert worse != front


# --- barcode -------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(CARDS)), ids=[c.last_name for c in CARDS])
def test_barcode_fields_exact(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]], index: int
) -> None:
    card, front, back = rendered[index]
    scan = reader.read(front, back=back)
    assert scan.findings == ()
    expected = {
        "LAST_NAME": barcode_name(card.last_name),
        "FIRST_NAME": barcode_name(card.first_name),
        "DATE_OF_BIRTH": card.date_of_birth.isoformat(),
        "EXPIRATION_DATE": card.expiry_date.isoformat(),
        "DATE_OF_ISSUE": card.issue_date.isoformat(),
        "DOCUMENT_NUMBER": card.document_number,
        "ADDRESS": card.address_line.upper(),
        "CITY_IN_ADDRESS": card.city.upper(),
        "STATE_IN_ADDRESS": card.state,
        "ZIP_CODE_IN_ADDRESS": card.postal_code[:5],
        "CLASS": "C",
        "ID_TYPE": "DRIVER LICENSE",
    }
    if card.middle_name:
        expected["MIDDLE_NAME"] = barcode_name(card.middle_name)
    assert {k: f.value for k, f in scan.fields.items()} == expected
    assert all(f.source == "barcode" and f.confidence == 99.0 for f in scan.fields.values())
    # The front was OCR'd for the cross-check only, and agreed (no findings above).
    assert "decode_back" in scan.timings_ms
    assert "ocr_front" in scan.timings_ms
    assert scan.engine == "local"
    assert "zxing-cpp" in scan.engine_version and "tesseract" in scan.engine_version


def test_barcode_survives_a_poor_capture(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    card, front, back = rendered[0]
    poor = degrade(back, blur=2.0, jpeg_quality=35, tilt_deg=-2)
    scan = reader.read(front, back=poor)
    assert scan.fields["DOCUMENT_NUMBER"].source == "barcode"
    assert scan.value("DATE_OF_BIRTH") == card.date_of_birth.isoformat()


def test_ca_dmv_specimen_back_decodes_and_parses(reader: LocalDocumentReader) -> None:
    _need(CA_SPECIMEN)
    image = (CA_SPECIMEN / "ca_dmv_reverse_side_sample.jpg").read_bytes()
    reference = json.loads((CA_SPECIMEN / "decoded_by_zxing_cpp.json").read_text())
    pdf417_hex = next(r["bytes_hex"] for r in reference["results"] if r["format"] == "PDF417")
    expected = parse_aamva(bytes.fromhex(pdf417_hex).decode("ascii"))

    scan = reader.read(image, back=image)
    assert scan.findings == ()
    assert dict(scan.fields) == dict(expected.fields)
    assert scan.value("STATE_IN_ADDRESS") == "CA"
    assert scan.value("DATE_OF_BIRTH") == "1977-10-31"
    assert scan.value("EXPIRATION_DATE") == "2014-10-31"
    assert (scan.value("DOCUMENT_NUMBER") or "").startswith("D1234562")
    assert expected.version == 4 and expected.issuer_id == "636014"


def _barcode_back(payload: str) -> bytes:
    codes = pdf417gen.encode(payload, columns=8, security_level=5)
    img = Image.new("RGB", (1012, 638), "white")
    img.paste(pdf417gen.render_image(codes, scale=3, ratio=3), (60, 150))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_non_aamva_barcode_is_unreadable(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    card, front, _ = rendered[1]
    scan = reader.read(front, back=_barcode_back("https://example.test/not-a-licence"))
    details = _unreadable(scan)
    assert details and details[0].startswith("barcode payload incomplete:")
    # The front was still OCR'd, so what it shows is kept.
    assert scan.value("LAST_NAME") == card.last_name.upper()


def test_truncated_aamva_barcode_names_missing_elements(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    card, front, _ = rendered[1]
    payload = aamva_payload(card)
    cut = payload[: payload.index("DBB")]
    scan = reader.read(front, back=_barcode_back(cut))
    details = _unreadable(scan)
    assert len(details) == 1
    assert "barcode payload incomplete" in details[0]
    assert "DATE_OF_BIRTH" in details[0]


def test_barcode_wins_and_ocr_fills_gaps(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    """ID cards are OCR'd too: barcode values take precedence, OCR adds the rest."""
    card, front, _ = rendered[1]
    payload = aamva_payload(card)
    # A barcode without address elements and with another date of birth.
    lines = [ln for ln in payload.split("\n") if not ln.startswith(("DAG", "DAI", "DAJ", "DAK"))]
    altered = "\n".join(lines).replace(card.date_of_birth.strftime("DBB%m%d%Y"), "DBB01011970")
    scan = reader.read(front, back=_barcode_back(altered), document_type=DocumentType.ID_CARD)
    assert scan.value("DATE_OF_BIRTH") == "1970-01-01"
    assert scan.fields["DATE_OF_BIRTH"].source == "barcode"
    assert scan.value("CITY_IN_ADDRESS") == card.city.upper()
    assert scan.fields["CITY_IN_ADDRESS"].source == "ocr"
    assert scan.value("ZIP_CODE_IN_ADDRESS") == card.postal_code[:5]
    assert "ocr_front" in scan.timings_ms


# --- OCR of the front -------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(CARDS)), ids=[c.last_name for c in CARDS])
def test_ocr_front_only(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]], index: int
) -> None:
    card, front, _ = rendered[index]
    scan = reader.read(front)
    assert scan.findings == ()
    # Tesseract's English model reads "JOSÉ" as "JOSE": the letters must match
    # exactly, the accent may be dropped (as it is in the barcode).
    for key, printed in (("LAST_NAME", card.last_name), ("FIRST_NAME", card.first_name)):
        value = scan.value(key)
        assert value in {printed.upper(), _fold(printed)}, key
    assert scan.value("DATE_OF_BIRTH") == card.date_of_birth.isoformat()
    assert scan.value("EXPIRATION_DATE") == card.expiry_date.isoformat()
    assert scan.value("DOCUMENT_NUMBER") == card.document_number
    for f in scan.fields.values():
        assert f.source == "ocr"
        assert 0 <= f.confidence <= 100
    assert scan.value("STATE_IN_ADDRESS") == card.state
    assert "ocr_front" in scan.timings_ms


def test_ocr_reads_middle_name_and_address(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    card, front, _ = rendered[2]
    scan = reader.read(front)
    assert scan.value("MIDDLE_NAME") == "JAMES"
    assert scan.value("ADDRESS") == "5 ELM ST"
    assert scan.value("CITY_IN_ADDRESS") == "AUSTIN"
    assert scan.value("ZIP_CODE_IN_ADDRESS") == "78701"
    assert scan.value("DATE_OF_ISSUE") == card.issue_date.isoformat()


def test_unreadable_back_falls_back_to_ocr(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    """A back with no decodable barcode is not fatal when the front reads."""
    card, front, back = rendered[0]
    scan = reader.read(front, back=degrade(back, blur=12, jpeg_quality=20))
    assert _unreadable(scan) == []
    assert scan.value("DOCUMENT_NUMBER") == card.document_number
    assert scan.fields["DOCUMENT_NUMBER"].source == "ocr"
    assert {"decode_back", "ocr_front"} <= scan.timings_ms.keys()


@pytest.mark.parametrize("handles", [1, 2])
def test_concurrent_reads_share_one_reader(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]], handles: int
) -> None:
    """Threads sharing a reader get what a lone caller gets, with one or two OCR handles."""
    fronts = [rendered[0][1], rendered[1][1]]
    expected = [dict(reader.read(f).fields) for f in fronts]
    results: dict[int, dict[str, object]] = {}
    shared = LocalDocumentReader(ocr_handles=handles)

    def work(i: int) -> None:
        results[i] = dict(shared.read(fronts[i % 2]).fields)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert [results[i] for i in range(4)] == [expected[i % 2] for i in range(4)]


def test_close_frees_every_handle_once() -> None:
    r = LocalDocumentReader(ocr_handles=3)
    r.close()
    r.close()  # idempotent: a second close neither waits nor frees twice


class _FixedBarcodes:
    """A BarcodeReader that finds the same text in every image, counting its calls."""

    name = "fixed"
    version = "fixed 1"

    def __init__(self, text: str | None) -> None:
        self.text = text
        self.calls = 0

    def read_pdf417(self, image: Image.Image) -> str | None:
        self.calls += 1
        return self.text


def test_the_barcode_reader_is_the_one_given(
    rendered: list[tuple[CardData, bytes, bytes]],
) -> None:
    """Wiring chooses the BarcodeReader; the reader only prepares the back for it."""
    card, front, back = rendered[0]
    barcodes = _FixedBarcodes(aamva_payload(card))
    with LocalDocumentReader(barcodes=barcodes) as r:
        assert r.version.startswith("fixed 1; tesseract ")
        assert r.decode_barcode(back) == aamva_payload(card)
        assert barcodes.calls == 1  # the first candidate (the flattened back) decoded
        # Blank or not an image: the reader's own checks, the barcode reader is not asked.
        assert r.decode_barcode(_jpeg_of(Image.new("RGB", (800, 500), "white"))) is None
        assert r.decode_barcode(b"not an image") is None
        assert barcodes.calls == 1
        scan = r.read(front, back=back)
    assert scan.fields["DOCUMENT_NUMBER"].source == "barcode"
    assert scan.engine_version.startswith("fixed 1; ")


# --- unreadable input ----------------------------------------------------------------------


def _jpeg_of(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


BAD_INPUTS = {
    "empty": b"",
    "not-an-image": b"%PDF-1.7 this is not a picture",
    "random-bytes": bytes(range(256)) * 8,
    "tiny": _jpeg_of(Image.new("RGB", (20, 20), "gray")),
    "blank-white": _jpeg_of(Image.new("RGB", (1012, 638), "white")),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_front_is_unreadable(reader: LocalDocumentReader, name: str) -> None:
    scan = reader.read(BAD_INPUTS[name])
    details = _unreadable(scan)
    assert len(details) == 1 and details[0].startswith("front:")
    assert not scan.readable
    assert scan.fields == {}


def test_truncated_front_is_unreadable(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    _, front, _ = rendered[0]
    scan = reader.read(front[: len(front) // 3])
    details = _unreadable(scan)
    assert details and "front:" in details[0]
    assert "truncated" in details[0] or "corrupt" in details[0]


@pytest.mark.parametrize("name", ["empty", "not-an-image", "blank-white"])
def test_bad_back_is_reported_with_good_front(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]], name: str
) -> None:
    card, front, _ = rendered[0]
    scan = reader.read(front, back=BAD_INPUTS[name])
    details = _unreadable(scan)
    assert len(details) == 1 and details[0].startswith("back:")
    if name == "blank-white":
        assert details == ["back: blank image"]
    assert scan.value("DOCUMENT_NUMBER") == card.document_number  # front OCR still ran


def test_bad_front_with_good_back_keeps_barcode_fields(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    card, _, back = rendered[0]
    scan = reader.read(b"not an image", back=back)
    assert _unreadable(scan) == ["front: not a recognised image format"]
    assert scan.value("DOCUMENT_NUMBER") == card.document_number


def test_blurred_document_is_unreadable(
    reader: LocalDocumentReader, rendered: list[tuple[CardData, bytes, bytes]]
) -> None:
    _, front, back = rendered[0]
    scan = reader.read(
        degrade(front, blur=12, jpeg_quality=20), back=degrade(back, blur=12, jpeg_quality=20)
    )
    details = _unreadable(scan)
    assert len(details) == 1
    assert "front:" in details[0] and "back: no PDF417 barcode found" in details[0]
