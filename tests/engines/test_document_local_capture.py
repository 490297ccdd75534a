"""Local reader on phone photos, passports (MRZ), cross-checks and the portrait crop.

Cases here are ones the Textract adapter is not held to (it is tested on saved
AnalyzeID responses), so they live beside the local reader's own tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from kyc.demo.cards import (
    CardData,
    PassportData,
    passport_mrz,
    photograph,
    render_licence_back,
    render_licence_front,
    render_passport_page,
)
from kyc.demo.generate import GENUINE_IDENTITIES, face_photos
from kyc.domain.application import DocumentType
from kyc.domain.records import Reason
from kyc.engines.document_local import LocalDocumentReader, printed_zone
from kyc.imaging.capture import ID1_ASPECT, flatten
from kyc.imaging.mrz_ocr import ocrb_templates
from kyc.settings import get_settings

SHARED = get_settings().shared_data_dir
CARD = CardData(
    first_name="Olivia",
    middle_name=None,
    last_name="Taylor",
    date_of_birth=dt.date(1990, 3, 7),
    expiry_date=dt.date(2031, 3, 7),
    issue_date=dt.date(2023, 5, 19),
    document_number="Y7654321",
    address_line="88 Pine Ave",
    city="Albany",
    state="NY",
    postal_code="12207",
    sex="F",
    jurisdiction="NY",
)
PASSPORT = PassportData(
    surname="Eriksson",
    given_names="Anna Maria",
    nationality="UTO",
    date_of_birth=dt.date(1974, 8, 12),
    sex="F",
    expiry_date=dt.date(2031, 4, 15),
    issue_date=dt.date(2021, 4, 16),
    document_number="L898902C3",
)
MILD = {"tilt_deg": 3.0, "perspective": 0.04, "blur": 0.8, "jpeg_quality": 75}
HARD = {"tilt_deg": -9.0, "perspective": 0.08, "blur": 1.4, "jpeg_quality": 55}

needs_ocrb = pytest.mark.skipif(
    ocrb_templates() is None, reason="OCR-B font not installed (make system-deps)"
)


def _face() -> Image.Image:
    folder = SHARED / "faces" / GENUINE_IDENTITIES[0]
    if not folder.is_dir():
        pytest.skip("shared/data/faces not available")
    return Image.open(face_photos(SHARED, GENUINE_IDENTITIES[0])[0])


@pytest.fixture(scope="module")
def reader() -> Iterator[LocalDocumentReader]:
    with LocalDocumentReader() as r:
        yield r


@pytest.fixture(scope="module")
def passport_page() -> bytes:
    return render_passport_page(PASSPORT, _face())


# --- capture -------------------------------------------------------------------------------


def test_flatten_finds_a_tilted_card_and_leaves_a_cropped_one() -> None:
    front = render_licence_front(CARD, None)
    cropped = flatten(Image.open(io.BytesIO(front)))
    assert not cropped.flattened  # already the card: nothing to warp
    photo = flatten(Image.open(io.BytesIO(photograph(front, seed=1, **HARD))))
    assert photo.flattened and photo.corners is not None
    assert photo.image.width / photo.image.height == pytest.approx(ID1_ASPECT, abs=0.01)


def test_tilted_back_needs_flattening_and_then_decodes(reader: LocalDocumentReader) -> None:
    photo = photograph(render_licence_back(CARD), seed=2, **HARD)
    # zxing alone cannot read the 9-degree photo; flattened, it decodes.
    assert reader._find_pdf417(Image.open(io.BytesIO(photo)).convert("RGB")) is None
    scan = reader.read(render_licence_front(CARD, None), back=photo)
    assert scan.fields["DOCUMENT_NUMBER"].source == "barcode"
    assert scan.value("DATE_OF_BIRTH") == "1990-03-07"
    assert scan.findings == ()  # barcode and printed front agree


def test_photographed_front_reads_every_identity_field(reader: LocalDocumentReader) -> None:
    scan = reader.read(photograph(render_licence_front(CARD, None), seed=3, **HARD))
    assert scan.findings == ()
    assert scan.value("LAST_NAME") == "TAYLOR" and scan.value("FIRST_NAME") == "OLIVIA"
    assert scan.value("DATE_OF_BIRTH") == "1990-03-07"
    assert scan.value("EXPIRATION_DATE") == "2031-03-07"
    assert scan.value("DOCUMENT_NUMBER") == "Y7654321"


def test_decompression_bomb_is_unreadable(reader: LocalDocumentReader) -> None:
    buf = io.BytesIO()
    Image.new("L", (9000, 9000), 255).save(buf, format="PNG")  # 81 MP > 2 x 40 MP
    scan = reader.read(buf.getvalue())
    assert [f.reason for f in scan.findings] == [Reason.DOCUMENT_UNREADABLE]
    assert "decompression bomb" in scan.findings[0].detail


def test_document_too_small_is_unreadable(reader: LocalDocumentReader) -> None:
    small = Image.open(io.BytesIO(render_licence_front(CARD, None))).resize((160, 100))
    buf = io.BytesIO()
    small.save(buf, format="JPEG")
    scan = reader.read(buf.getvalue())
    assert scan.findings[0].reason is Reason.DOCUMENT_UNREADABLE
    assert "too small" in scan.findings[0].detail


# --- cross-checks --------------------------------------------------------------------------


def test_front_edited_after_issue_is_inconsistent_with_the_barcode(
    reader: LocalDocumentReader,
) -> None:
    edited = dataclasses.replace(CARD, date_of_birth=dt.date(1980, 3, 7))
    scan = reader.read(render_licence_front(edited, None), back=render_licence_back(CARD))
    assert scan.value("DATE_OF_BIRTH") == "1990-03-07"  # the barcode's value is kept
    inconsistent = [f for f in scan.findings if f.reason is Reason.DOCUMENT_INCONSISTENT]
    assert len(inconsistent) == 1
    assert inconsistent[0].detail.endswith("on: DATE_OF_BIRTH")


# --- passports -----------------------------------------------------------------------------


@needs_ocrb
@pytest.mark.parametrize("capture", ["scan", "mild photo"])
def test_passport_fields_come_from_a_valid_mrz(
    reader: LocalDocumentReader, passport_page: bytes, capture: str
) -> None:
    image = passport_page if capture == "scan" else photograph(passport_page, seed=4, **MILD)
    scan = reader.read(image, document_type=DocumentType.PASSPORT)
    assert scan.findings == ()
    assert scan.value("MRZ_CODE") == "\n".join(passport_mrz(PASSPORT))
    for key, value in {
        "LAST_NAME": "ERIKSSON",
        "FIRST_NAME": "ANNA",
        "MIDDLE_NAME": "MARIA",
        "DOCUMENT_NUMBER": "L898902C3",
        "DATE_OF_BIRTH": "1974-08-12",
        "EXPIRATION_DATE": "2031-04-15",
        "ID_TYPE": "PASSPORT",
    }.items():
        assert scan.value(key) == value, key
        assert scan.fields[key].source == "mrz"


def test_without_the_ocrb_font_the_tesseract_fallback_still_finds_the_mrz(
    reader: LocalDocumentReader, passport_page: bytes
) -> None:
    # The general English model misreads fillers (README: 6 / 65 specimens exact), but
    # it finds the zone and the digit fields it reads validate.
    from kyc.imaging.mrz_ocr import read_mrz

    page = Image.open(io.BytesIO(passport_page)).convert("RGB")
    result = read_mrz(page, reader._read_mrz_line, None)
    assert result is not None and result.type.value == "TD3"
    assert result.lines[1][:28] == passport_mrz(PASSPORT)[1][:28]
    assert all(result.checks[k] for k in ("document_number", "birth_date", "expiry_date"))


#: One printed field edited after issue, per field.
EDITS = {
    "DOCUMENT_NUMBER": dataclasses.replace(PASSPORT, document_number="L898902C8"),
    "LAST_NAME": dataclasses.replace(PASSPORT, surname="Eriksen"),
    "EXPIRATION_DATE": dataclasses.replace(PASSPORT, expiry_date=dt.date(2036, 4, 15)),
    "DATE_OF_BIRTH": dataclasses.replace(PASSPORT, date_of_birth=dt.date(1984, 8, 12)),
}


@needs_ocrb
def test_passport_page_edited_after_issue_is_inconsistent_with_the_mrz(
    reader: LocalDocumentReader,
) -> None:
    page = render_passport_page(PASSPORT, None, printed=EDITS["DATE_OF_BIRTH"])
    scan = reader.read(page, document_type=DocumentType.PASSPORT)
    assert scan.value("DATE_OF_BIRTH") == "1974-08-12"  # the MRZ outranks the print
    assert [f.detail for f in scan.findings if f.reason is Reason.DOCUMENT_INCONSISTENT] == [
        "MRZ disagrees with the printed front on: DATE_OF_BIRTH"
    ]


@needs_ocrb
@pytest.mark.parametrize(
    ("quality", "key"),
    [
        ("mild", "DOCUMENT_NUMBER"),
        ("mild", "LAST_NAME"),
        ("mild", "EXPIRATION_DATE"),
        ("hard", "LAST_NAME"),
        ("hard", "EXPIRATION_DATE"),
        ("hard", "DATE_OF_BIRTH"),
    ],
)
def test_edits_on_a_photographed_page_are_caught(
    reader: LocalDocumentReader, quality: str, key: str
) -> None:
    # Only the printed zone is OCR'd (above the MRZ, right of the face, 800 px):
    # every identity field in it must still be compared, down to the last line. At
    # hard quality (9 degrees, blur 1.4, JPEG 55) one OCR pass of the printed zone
    # reads none of these fields, and an edit would pass unseen; a soft capture gets
    # the sharpened second pass. (An edited number is still missed at that quality.)
    page = photograph(
        render_passport_page(PASSPORT, _face(), printed=EDITS[key]),
        seed=5,
        **(MILD if quality == "mild" else HARD),
    )
    scan = reader.read(page, document_type=DocumentType.PASSPORT)
    assert [f.detail for f in scan.findings if f.reason is Reason.DOCUMENT_INCONSISTENT] == [
        f"MRZ disagrees with the printed front on: {key}"
    ]


@needs_ocrb
def test_printed_zone_ends_above_the_mrz_and_right_of_the_face(
    reader: LocalDocumentReader, passport_page: bytes
) -> None:
    from kyc.imaging.mrz_ocr import read_mrz

    page = Image.open(io.BytesIO(passport_page)).convert("L")
    mrz = read_mrz(page, lambda _: "", ocrb_templates())
    assert mrz is not None
    from kyc.engines.document_local import _face_box
    from kyc.imaging.picture import Picture

    face = _face_box(Picture.of_image(page.convert("RGB")))
    assert face is not None
    zone = printed_zone(page, mrz, face)
    # render_passport_page: fields from x=340, the last value's baseline at y=548,
    # the MRZ's first line from y~578 (on a white band from y=560).
    assert face[2] <= 340 and zone.width == page.width - face[2]
    assert 555 <= zone.height <= 580


@needs_ocrb
def test_mrz_with_a_bad_check_digit_is_reported(reader: LocalDocumentReader) -> None:
    # A passport whose MRZ expiry was altered without fixing its check digit.
    line1, line2 = passport_mrz(PASSPORT)
    forged = line2[:21] + "351231" + line2[27:]
    page = render_passport_page(PASSPORT, None)
    img = Image.open(io.BytesIO(page))
    from kyc.demo import cards

    draw_page = img.copy()
    draw = cards.ImageDraw.Draw(draw_page)
    draw.rectangle((0, 560, img.width, img.height), fill=(250, 250, 250))
    font = cards._mrz_font(30)
    draw.text((30, 600), line1, font=font, fill=(0, 0, 0), anchor="ls")
    draw.text((30, 656), forged, font=font, fill=(0, 0, 0), anchor="ls")
    buf = io.BytesIO()
    draw_page.save(buf, format="PNG")
    scan = reader.read(buf.getvalue(), document_type=DocumentType.PASSPORT)
    low = [f.detail for f in scan.findings if f.reason is Reason.DOCUMENT_LOW_CONFIDENCE]
    assert low and "expiry_date" in low[0] and "composite" in low[0]
    # Printed fields win over an MRZ that fails its check digits.
    assert scan.value("EXPIRATION_DATE") == "2031-04-15"
    assert scan.fields["EXPIRATION_DATE"].source == "ocr"


@needs_ocrb
def test_labelled_mrz_specimen_is_read_exactly(reader: LocalDocumentReader) -> None:
    path = SHARED / "mrz" / "expected_mrz.json"
    if not path.is_file():
        pytest.skip("shared/data/mrz not available")
    samples = {s["file"]: s for s in json.loads(path.read_text())["samples"]}
    sample = samples["images/passporteye_testdata/100_pass-fin.png"]
    scan = reader.read((SHARED / "mrz" / sample["file"]).read_bytes(),
                       document_type=DocumentType.PASSPORT)  # fmt: skip
    assert (scan.value("MRZ_CODE") or "").split("\n") == sample["mrz_lines"]
    assert scan.value("LAST_NAME") == "VIRTANEN"


# --- portrait --------------------------------------------------------------------------------


def test_portrait_is_cropped_from_the_licence(reader: LocalDocumentReader) -> None:
    scan = reader.read(render_licence_front(CARD, _face()))
    assert scan.portrait is not None and scan.portrait_box is not None
    left, top, right, bottom = scan.portrait_box
    # Inside the printed portrait box of the card (40, 150, 280, 450), give or take.
    assert 0 <= left < 140 and right < 340 and 100 < bottom <= 500
    crop = Image.open(io.BytesIO(scan.portrait))
    assert crop.size == (right - left, bottom - top)
    as_json = scan.as_dict()
    assert as_json["portrait_box"] == list(scan.portrait_box)
    assert "portrait" not in as_json  # image bytes never go into the JSON


def test_no_face_no_portrait(reader: LocalDocumentReader) -> None:
    scan = reader.read(render_licence_front(CARD, None))
    assert scan.portrait is None and scan.portrait_box is None


def test_exif_orientation_is_applied(reader: LocalDocumentReader) -> None:
    # A phone stores the pixels sideways and says so in EXIF (orientation 6: the
    # viewer rotates 90 degrees clockwise); the reader must honour it.
    upright = Image.open(io.BytesIO(render_licence_front(CARD, None)))
    sideways = upright.rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    sideways.save(buf, format="JPEG", quality=92, exif=exif)
    scan = reader.read(buf.getvalue())
    assert scan.findings == ()
    assert scan.value("DOCUMENT_NUMBER") == "Y7654321"
    assert scan.value("DATE_OF_BIRTH") == "1990-03-07"


def test_out_of_focus_front_is_rejected_before_ocr(reader: LocalDocumentReader) -> None:
    from PIL import ImageFilter

    blurred = Image.open(io.BytesIO(render_licence_front(CARD, None))).filter(
        ImageFilter.GaussianBlur(4)
    )
    buf = io.BytesIO()
    blurred.save(buf, format="JPEG")
    scan = reader.read(buf.getvalue(), back=render_licence_back(CARD))
    # The barcode still carries the fields; the front's problem is reported.
    assert scan.value("DOCUMENT_NUMBER") == "Y7654321"
    assert [f.detail.split(" (")[0] for f in scan.findings] == ["front: too blurred to read"]
    assert "ocr_front" not in scan.timings_ms
