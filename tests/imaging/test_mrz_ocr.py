"""MRZ location and OCR-B template reading (kyc.imaging.mrz_ocr), on rendered pages and
labelled specimens from shared/data/mrz (read in place, never copied)."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from kyc.demo.cards import passport_mrz, render_passport_page
from kyc.imaging.mrz_ocr import _joined_lines, deskew, mrz_bands, ocrb_templates, read_mrz
from kyc.settings import get_settings
from tests.engines.test_document_local_capture import PASSPORT  # the ICAO 9303 specimen

MRZ_DIR = get_settings().shared_data_dir / "mrz"
EXPECTED = list(passport_mrz(PASSPORT))

pytestmark = pytest.mark.skipif(
    ocrb_templates() is None, reason="OCR-B font not installed (make system-deps)"
)


def _no_tesseract(_: Image.Image) -> str:
    raise AssertionError("the template recogniser must not fall back to Tesseract")


def _read(img: Image.Image) -> Any:
    return read_mrz(img.convert("RGB"), _no_tesseract, ocrb_templates())


@pytest.fixture(scope="module")
def page() -> Image.Image:
    return Image.open(io.BytesIO(render_passport_page(PASSPORT, None))).convert("RGB")


def test_rendered_page_reads_exactly(page: Image.Image) -> None:
    result = _read(page)
    assert result is not None and result.valid
    assert list(result.lines) == EXPECTED


def test_small_web_image_still_reads(page: Image.Image) -> None:
    # A 420 px wide page: MRZ glyphs about 7 px wide, as in most specimens online.
    small = page.resize((420, round(420 * page.height / page.width)), Image.Resampling.LANCZOS)
    result = _read(small)
    assert result is not None and list(result.lines) == EXPECTED and result.valid


@pytest.mark.parametrize("degrees", [-3.0, 2.5])
def test_slightly_tilted_page_is_deskewed(page: Image.Image, degrees: float) -> None:
    tilted = page.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(235, 235, 235))
    result = _read(tilted)
    assert result is not None and list(result.lines) == EXPECTED


@pytest.mark.parametrize("degrees", [-25.0, 15.0, 35.0])
def test_page_photographed_askew_is_turned_level(page: Image.Image, degrees: float) -> None:
    # Beyond deskew's +-6 degrees no upright band fits the MRZ; the turn that shows
    # one levels the page. Without that fallback nothing is found. (On a dark desk the
    # reader's outline flattening levels the page first: tests/engines/test_document_local*.)
    askew = page.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True,
                        fillcolor=(235, 235, 235))  # fmt: skip
    assert read_mrz(askew, _no_tesseract, ocrb_templates(), tilted=False) is None
    result = _read(askew)
    assert result is not None and list(result.lines) == EXPECTED and result.valid


def test_coloured_print_over_the_mrz_is_ignored(page: Image.Image) -> None:
    # A red stamp across the start of both MRZ lines (as the red "RH" on the Croatian
    # specimen): dark in grey, near-white in the brightest channel.
    # Printed ink multiplies: the black glyphs stay black under the red.
    layer = Image.new("RGB", page.size, (255, 255, 255))
    font = ImageFont.load_default(size=90)
    draw = ImageDraw.Draw(layer)
    draw.text((20, page.height - 150), "RH", font=font, fill=(190, 0, 0), stroke_width=5)
    stamped = ImageChops.multiply(page, layer)
    grey = np.asarray(stamped.convert("L"))
    assert grey[page.height - 120 :, :150].min() < 100  # the stamp is dark in grey
    result = _read(stamped)
    assert result is not None and list(result.lines) == EXPECTED


def test_a_frame_line_beside_the_mrz_does_not_shift_its_cells(page: Image.Image) -> None:
    # Scans cropped to a card's edge (or with a frame drawn round them) put a thin
    # full-height line at the ends of every MRZ row: taken as a glyph it stretched the
    # pitch and moved every cell (the US visa and German residence card specimens).
    framed = page.copy()
    draw = ImageDraw.Draw(framed)
    draw.rectangle((6, 6, page.width - 7, page.height - 7), outline=(0, 0, 0), width=3)
    result = _read(framed)
    assert result is not None and list(result.lines) == EXPECTED and result.valid


def test_card_beside_its_back_in_one_image_has_its_mrz_found(page: Image.Image) -> None:
    # Residence-permit scans often show front and back side by side: the MRZ then
    # spans under half the image width.
    wide = Image.new("RGB", (page.width * 2 + 40, page.height), (250, 250, 250))
    wide.paste(page, (page.width + 40, 0))
    boxes = mrz_bands(np.asarray(wide.convert("L")))
    assert boxes and boxes[0][0] > page.width  # the band on the right-hand card
    result = _read(wide)
    assert result is not None and list(result.lines) == EXPECTED


def test_mrz_lines_found_as_separate_bands_are_joined() -> None:
    # Widely spaced lines close into one band each: their union is tried first.
    line1, line2 = (14, 322, 582, 340), (14, 357, 582, 378)
    photo_caption = (225, 180, 432, 214)
    assert _joined_lines([line2, line1, photo_caption]) == [(14, 322, 582, 378)]
    # Three lines (TD1) give the pairs and the whole zone.
    td1 = [(10, 100, 300, 110), (10, 120, 300, 130), (10, 140, 300, 150)]
    assert (10, 100, 300, 150) in _joined_lines(td1)
    # Lines far apart, or over different columns, are not one zone.
    assert _joined_lines([(10, 100, 300, 110), (10, 200, 300, 210)]) == []
    assert _joined_lines([(10, 100, 300, 110), (200, 115, 600, 125)]) == []


def test_deskew_levels_a_tilted_band() -> None:
    band = Image.new("L", (600, 80), 255)
    ImageDraw.Draw(band).text((10, 30), EXPECTED[0], fill=0, font=ImageFont.load_default(size=14))
    tilted = band.rotate(3, resample=Image.Resampling.BICUBIC, fillcolor=255)

    def rows_height(img: Image.Image) -> int:
        ink = np.asarray(img) < 128
        return int(np.count_nonzero(ink.any(axis=1)))

    assert rows_height(deskew(tilted)) < rows_height(tilted)
    assert deskew(band) is band  # level already: returned as is


# --- labelled specimens ---------------------------------------------------------------------


def _samples() -> dict[str, dict[str, Any]]:
    path = MRZ_DIR / "expected_mrz.json"
    if not path.is_file():
        return {}
    return {s["file"]: s for s in json.loads(path.read_text())["samples"]}


SAMPLES = _samples()


@pytest.mark.skipif(not SAMPLES, reason="shared/data/mrz not available")
@pytest.mark.parametrize(
    "name",
    [
        "images/arg0s1080_mrz/passports_China.png",  # 3/S pairs in the personal number
        "images/passporteye_testdata/77_card-cmw.png",  # not set in OCR-B
        "images/arg0s1080_mrz/id_cards_Lithuania.png",  # Z/2 settled by the digits
        "images/passporteye_testdata/43_pass-fra.jpg",  # E/F at 376 px wide
        "images/passporteye_testdata/100_id-si.jpg",  # SI< is not in the code list
        "images/image_js/id1_fra_id_specimen.jpg",  # French 1988 layout
        "images/arg0s1080_mrz/visas_MRVB_ICAO_Example.png",  # each line its own band
        "images/passporteye_testdata/25_pass-uto.jpg",  # 275 px wide: faint E bars (gamma)
        "images/passporteye_testdata/27_pass-gbr.jpg",  # 272 px wide: nationality = issuer
        "images/arg0s1080_mrz/other_USA_Border_Crosser.png",  # G/Q, O/D, E/F (pairs)
        "images/passporteye_testdata/100_id-rou.jpg",  # numeric nationality 132
        "images/arg0s1080_mrz/resident_cards_Germany.png",  # card border beside the rows
        "images/arg0s1080_mrz/visas_USA.png",  # frame line at both ends of the rows
        "images/passporteye_testdata/100_pass-lux.jpg",  # page on a desk: MRZ deskewed alone
    ],
)
def test_specimen_reads_exactly_with_its_labelled_check_digits(name: str) -> None:
    sample = SAMPLES[name]
    result = _read(Image.open(MRZ_DIR / name))
    assert result is not None
    assert list(result.lines) == sample["mrz_lines"]
    for check, valid in sample["check_digits_valid"].items():
        if valid is not None:
            assert result.checks[check] is valid, check


@pytest.mark.skipif(not SAMPLES, reason="shared/data/mrz not available")
def test_specimen_with_invalid_check_digits_stays_invalid() -> None:
    # The US residence card specimen's digits are all wrong as printed: the reading
    # is exact and no near tie may be swapped to make them pass.
    name = "images/arg0s1080_mrz/resident_cards_USA.png"
    sample = SAMPLES[name]
    result = _read(Image.open(MRZ_DIR / name))
    assert result is not None and not result.valid
    assert list(result.lines) == sample["mrz_lines"]
    assert set(result.failed_checks) == {
        k for k, v in sample["check_digits_valid"].items() if v is False
    }
