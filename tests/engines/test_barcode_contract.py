"""Contract every BarcodeReader must meet, run over each implementation.

Add an implementation by appending a factory to BARCODE_READERS. The images are a
licence back rendered by kyc.demo.cards (its AAMVA payload is the expected text) and
the California DMV specimen in shared/data/pdf417 (its PDF417 bytes as decoded once
and saved beside it).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pdf417gen
import pytest
from PIL import Image

from kyc.demo.cards import aamva_payload, render_licence_back
from kyc.engines.barcode_zxing import ZxingBarcodeReader
from kyc.engines.base import BarcodeReader
from kyc.settings import get_settings
from tests.engines.test_document_contract import CARD  # the DocumentReader contract's card

CA_SPECIMEN = get_settings().shared_data_dir / "pdf417" / "images" / "dl_specimens"

#: One factory per implementation; each returns a ready reader.
BARCODE_READERS: list[tuple[str, Callable[[], BarcodeReader]]] = [
    ("zxing", ZxingBarcodeReader),
]


@pytest.fixture(scope="module", params=BARCODE_READERS, ids=[n for n, _ in BARCODE_READERS])
def reader(request: pytest.FixtureRequest) -> BarcodeReader:
    _, factory = request.param
    return factory()


@pytest.fixture(scope="module")
def back() -> Image.Image:
    return Image.open(io.BytesIO(render_licence_back(CARD))).convert("RGB")


def _symbol(payload: str) -> Image.Image:
    return pdf417gen.render_image(pdf417gen.encode(payload, columns=8, security_level=5), scale=3)


def test_is_a_barcode_reader(reader: BarcodeReader) -> None:
    assert isinstance(reader, BarcodeReader)
    assert reader.name and reader.version


def test_rendered_licence_back_decodes_to_its_aamva_text(
    reader: BarcodeReader, back: Image.Image
) -> None:
    # Exactly the payload: the AAMVA control characters (LF, RS, CR) survive.
    assert reader.read_pdf417(back) == aamva_payload(CARD)


def test_ca_dmv_specimen_decodes_to_its_pdf417_bytes(reader: BarcodeReader) -> None:
    if not CA_SPECIMEN.exists():
        pytest.skip(f"shared test data not found at {CA_SPECIMEN}")
    reference = json.loads((CA_SPECIMEN / "decoded_by_zxing_cpp.json").read_text())
    pdf417_hex = next(r["bytes_hex"] for r in reference["results"] if r["format"] == "PDF417")
    # The specimen also carries a Code 128: only the PDF417 is read.
    with Image.open(CA_SPECIMEN / "ca_dmv_reverse_side_sample.jpg") as img:
        text = reader.read_pdf417(img.convert("RGB"))
    assert text == bytes.fromhex(pdf417_hex).decode("ascii")


def test_a_large_photo_still_decodes(reader: BarcodeReader, back: Image.Image) -> None:
    large = back.resize((back.width * 3, back.height * 3), Image.Resampling.BICUBIC)
    assert reader.read_pdf417(large) == aamva_payload(CARD)


def test_the_aamva_symbol_is_preferred_over_another_pdf417(reader: BarcodeReader) -> None:
    other, aamva = _symbol("https://example.test/not-a-licence"), _symbol(aamva_payload(CARD))
    size = (max(other.width, aamva.width) + 120, other.height + aamva.height + 180)
    img = Image.new("RGB", size, "white")
    # The other symbol on top: zxing reports it first, so the preference is what picks.
    img.paste(other, (60, 60))
    img.paste(aamva, (60, other.height + 120))
    assert reader.read_pdf417(img) == aamva_payload(CARD)


@pytest.mark.parametrize("colour", ["white", "black"])
def test_an_image_without_a_barcode_gives_none(reader: BarcodeReader, colour: str) -> None:
    assert reader.read_pdf417(Image.new("RGB", (1012, 638), colour)) is None


def test_concurrent_reads_agree(reader: BarcodeReader, back: Image.Image) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(reader.read_pdf417, [back] * 4))
    assert texts == [aamva_payload(CARD)] * 4
