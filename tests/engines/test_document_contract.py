"""Contract every DocumentReader must meet, run over each implementation.

Add an implementation by appending a factory to READERS. The Textract reader runs
against the recorded-response replay server (``tests/engines/aws_replay.py``): a
loopback AWS JSON 1.1 server answering AnalyzeID with saved responses keyed on the
image bytes. That checks our request, the response mapping and error handling, not
Textract's reading accuracy (live: ``KYC_LIVE_AWS=1``, ``tests/engines/test_aws_live.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from collections.abc import Callable, Iterator

import pytest
from PIL import Image

from kyc.demo.cards import CardData, render_licence_back, render_licence_front
from kyc.domain.records import DocumentField, DocumentScan, Reason
from kyc.engines.base import DocumentReader
from kyc.engines.document_local import LocalDocumentReader
from kyc.settings import Settings, get_settings
from tests.engines import aws_replay

#: Textract AnalyzeID normalised field types (driving licences and US passports).
ANALYZE_ID_KEYS = frozenset(
    {
        "FIRST_NAME",
        "LAST_NAME",
        "MIDDLE_NAME",
        "SUFFIX",
        "CITY_IN_ADDRESS",
        "ZIP_CODE_IN_ADDRESS",
        "STATE_IN_ADDRESS",
        "COUNTY",
        "DOCUMENT_NUMBER",
        "EXPIRATION_DATE",
        "DATE_OF_BIRTH",
        "STATE_NAME",
        "DATE_OF_ISSUE",
        "CLASS",
        "RESTRICTIONS",
        "ENDORSEMENTS",
        "ID_TYPE",
        "VETERAN",
        "ADDRESS",
        "PLACE_OF_BIRTH",
        "MRZ_CODE",
    }
)
DATE_KEYS = ("DATE_OF_BIRTH", "EXPIRATION_DATE", "DATE_OF_ISSUE")


def _textract_replay() -> DocumentReader:
    """Textract reader on the replay server, primed with this suite's card images."""
    from kyc.engines.document_textract import TextractDocumentReader

    server = aws_replay.shared_server()
    images = _card_images()
    if images is not None:
        front, back = images
        target = aws_replay.TEXTRACT_ANALYZE_ID
        server.add(target, [front, back], aws_replay.saved("analyze_id_licence_front_back"))
        server.add(target, [front], aws_replay.saved("analyze_id_licence_front"))
    settings = Settings(textract_endpoint_url=server.endpoint, aws_max_attempts=2)
    return TextractDocumentReader.from_settings(settings, session=aws_replay.dummy_session())


#: One factory per implementation; each returns a ready reader.
READERS: list[tuple[str, Callable[[], DocumentReader]]] = [
    ("local", LocalDocumentReader),
    ("textract-replay", _textract_replay),
]

CARD = CardData(
    first_name="Amélie",
    middle_name="Rose",
    last_name="Durand-Smith",
    date_of_birth=dt.date(1988, 4, 9),
    expiry_date=dt.date(2030, 4, 9),
    issue_date=dt.date(2022, 7, 14),
    document_number="F5550123",
    address_line="77 Harbor Blvd",
    city="Long Beach",
    state="CA",
    postal_code="90802",
    sex="F",
)


@pytest.fixture(scope="module", params=READERS, ids=[name for name, _ in READERS])
def reader(request: pytest.FixtureRequest) -> Iterator[DocumentReader]:
    _, factory = request.param
    instance = factory()
    yield instance
    close = getattr(instance, "close", None)
    if callable(close):
        close()


@functools.lru_cache(maxsize=1)
def _card_images() -> tuple[bytes, bytes] | None:
    faces = get_settings().shared_data_dir / "faces" / "facerec_biden"
    photos = sorted(faces.glob("*.jpg"))
    if not photos:
        return None
    with Image.open(photos[0]) as face:
        front = render_licence_front(CARD, face, seed=11)
    return front, render_licence_back(CARD, seed=11)


@pytest.fixture(scope="module")
def card_images() -> tuple[bytes, bytes]:
    images = _card_images()
    if images is None:
        pytest.skip("shared face photos not found (see /work/shared/data/README.md)")
    return images


def _check_shape(scan: DocumentScan, reader: DocumentReader) -> None:
    assert isinstance(scan, DocumentScan)
    assert scan.engine == reader.name
    assert scan.engine_version == reader.version
    for key, f in scan.fields.items():
        assert key in ANALYZE_ID_KEYS, key
        assert isinstance(f, DocumentField)
        assert 0.0 <= f.confidence <= 100.0, (key, f.confidence)
        assert isinstance(f.text, str) and isinstance(f.value, str)
    for key in DATE_KEYS:
        value = scan.value(key)
        if value is not None:
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), (key, value)
            dt.date.fromisoformat(value)
    for t in scan.timings_ms.values():
        assert t >= 0


def test_satisfies_the_protocol(reader: DocumentReader) -> None:
    assert isinstance(reader, DocumentReader)
    assert reader.name and isinstance(reader.name, str)
    assert reader.version and isinstance(reader.version, str)


def test_reads_front_and_back(reader: DocumentReader, card_images: tuple[bytes, bytes]) -> None:
    front, back = card_images
    scan = reader.read(front, back=back)
    _check_shape(scan, reader)
    assert scan.readable
    assert scan.value("DATE_OF_BIRTH") == CARD.date_of_birth.isoformat()
    assert scan.value("EXPIRATION_DATE") == CARD.expiry_date.isoformat()
    assert scan.value("DOCUMENT_NUMBER") == CARD.document_number
    assert scan.value("LAST_NAME") == "DURAND-SMITH"


def test_reads_front_only(reader: DocumentReader, card_images: tuple[bytes, bytes]) -> None:
    front, _ = card_images
    scan = reader.read(front)
    _check_shape(scan, reader)
    assert scan.readable
    assert scan.value("DATE_OF_BIRTH") == CARD.date_of_birth.isoformat()
    assert scan.value("DOCUMENT_NUMBER") == CARD.document_number


def _truncated_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (800, 500), (120, 30, 200)).save(buf, format="JPEG")
    return buf.getvalue()[:400]


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, _truncated_jpeg()],
    ids=["empty", "text", "png-header-only", "truncated-jpeg"],
)
def test_bad_bytes_are_unreadable_not_an_exception(reader: DocumentReader, data: bytes) -> None:
    scan = reader.read(data)
    _check_shape(scan, reader)
    assert not scan.readable
    assert any(f.reason is Reason.DOCUMENT_UNREADABLE and f.detail for f in scan.findings), (
        scan.findings
    )


def test_bad_back_is_unreadable_not_an_exception(
    reader: DocumentReader, card_images: tuple[bytes, bytes]
) -> None:
    front, _ = card_images
    scan = reader.read(front, back=b"\xff\xd8\xff garbage")
    _check_shape(scan, reader)
    assert any(f.reason is Reason.DOCUMENT_UNREADABLE and "back" in f.detail for f in scan.findings)
