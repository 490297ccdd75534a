"""The AWS engines against AWS itself: only with ``KYC_LIVE_AWS=1`` (billed calls).

Needs credentials in boto3's default chain with ``textract:AnalyzeID`` and
``rekognition:CompareFaces``, and ``KYC_AWS_REGION`` set to a region offering both.
Skipped otherwise; the offline suites use the replay server (``aws_replay.py``).
"""

from __future__ import annotations

import os

import pytest

from kyc.domain.records import Reason
from kyc.settings import Settings, get_settings

pytestmark = pytest.mark.skipif(
    os.environ.get("KYC_LIVE_AWS") != "1", reason="live AWS tests need KYC_LIVE_AWS=1"
)


def test_textract_reads_the_td3_specimen() -> None:
    from kyc.engines.document_textract import TextractDocumentReader

    image = get_settings().shared_data_dir / "mrz/images/passporteye_tests/passport-td3.jpg"
    scan = TextractDocumentReader.from_settings(Settings()).read(image.read_bytes())
    assert scan.readable, scan.findings
    assert scan.value("DOCUMENT_NUMBER") == "L898902C3"
    assert scan.value("DATE_OF_BIRTH") == "1974-08-12"


def test_rekognition_same_and_different_person() -> None:
    from kyc.engines.face_rekognition import RekognitionFaceMatcher

    faces = get_settings().shared_data_dir / "faces"
    matcher = RekognitionFaceMatcher.from_settings(Settings())
    selfie = (faces / "facerec_obama/2.jpg").read_bytes()
    same = matcher.compare(selfie, (faces / "facerec_obama/1.jpg").read_bytes())
    other = matcher.compare(selfie, (faces / "facerec_biden/1.jpg").read_bytes())
    assert same.similarity is not None and same.similarity >= 90
    assert other.similarity is not None and other.similarity < 50


def test_rekognition_no_face() -> None:
    import io

    from PIL import Image

    from kyc.engines.face_rekognition import RekognitionFaceMatcher

    buf = io.BytesIO()
    Image.new("RGB", (400, 400), (120, 120, 120)).save(buf, "JPEG")
    faces = get_settings().shared_data_dir / "faces"
    result = RekognitionFaceMatcher.from_settings(Settings()).compare(
        buf.getvalue(), (faces / "facerec_obama/1.jpg").read_bytes()
    )
    assert [f.reason for f in result.findings] == [Reason.FACE_NOT_FOUND]
