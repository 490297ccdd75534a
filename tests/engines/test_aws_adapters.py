"""Textract AnalyzeID and Rekognition CompareFaces adapters beyond the contract.

boto3 talks to the recorded-response replay server (``aws_replay.py``) on loopback:
throttling that botocore retries, throttling beyond the retry bound, input errors,
permission errors, a dead endpoint, and the request we send. Saved responses only;
nothing here reaches AWS.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from kyc.clients.aws import AwsEngineError
from kyc.domain.records import Reason
from kyc.engines.base import EngineUnavailable
from kyc.engines.document_textract import TextractDocumentReader, fields_from_analyze_id
from kyc.engines.face_rekognition import RekognitionFaceMatcher, comparison_from_compare_faces
from kyc.settings import Settings
from tests.engines import aws_replay
from tests.engines.aws_replay import (
    REKOGNITION_COMPARE_FACES,
    TEXTRACT_ANALYZE_ID,
    ReplayServer,
    error,
    saved,
)


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (320, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


FRONT = _jpeg((200, 180, 160))
BACK = _jpeg((90, 120, 150))
SELFIE = _jpeg((180, 150, 130), (240, 320))
DOCUMENT = _jpeg((160, 160, 170))


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as srv:
        yield srv


def _settings(endpoint: str, attempts: int = 3) -> Settings:
    return Settings(
        textract_endpoint_url=endpoint,
        rekognition_endpoint_url=endpoint,
        aws_max_attempts=attempts,
        aws_timeout_seconds=5,
    )


def _reader(endpoint: str, attempts: int = 3) -> TextractDocumentReader:
    return TextractDocumentReader.from_settings(
        _settings(endpoint, attempts), session=aws_replay.dummy_session()
    )


def _matcher(endpoint: str, attempts: int = 3) -> RekognitionFaceMatcher:
    return RekognitionFaceMatcher.from_settings(
        _settings(endpoint, attempts), session=aws_replay.dummy_session()
    )


# --- Textract AnalyzeID ----------------------------------------------------------------


def test_front_and_back_go_as_two_document_pages(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT, BACK], saved("analyze_id_licence_front_back"))
    scan = _reader(server.endpoint).read(FRONT, back=BACK)
    (body,) = aws_replay.iter_requests(server, TEXTRACT_ANALYZE_ID)
    assert len(body["DocumentPages"]) == 2
    assert scan.findings == ()
    assert scan.engine == "textract"
    # NormalizedValue -> ISO; the text keeps what the card shows.
    dob = scan.fields["DATE_OF_BIRTH"]
    assert (dob.text, dob.value, dob.source) == ("04/09/1988", "1988-04-09", "textract")
    # The front's confident number wins over the back's poor reading of it.
    assert scan.value("DOCUMENT_NUMBER") == "F5550123"
    assert scan.value("ID_TYPE") == "DRIVER LICENSE FRONT"
    # Empty AnalyzeID fields (SUFFIX, VETERAN, ...) are not fields we read.
    assert "SUFFIX" not in scan.fields and "MRZ_CODE" not in scan.fields
    assert {"precheck", "analyze_id", "total"} <= scan.timings_ms.keys()


def test_passport_keeps_mrz_code(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], saved("analyze_id_passport"))
    scan = _reader(server.endpoint).read(FRONT)
    assert scan.value("MRZ_CODE") == (
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
    )
    assert scan.value("EXPIRATION_DATE") == "2012-04-15"
    assert scan.fields["EXPIRATION_DATE"].text == "15 APR 2012"


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
def test_throttling_is_retried_by_botocore(server: ReplayServer, code: str) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], error(code), saved("analyze_id_licence_front"))
    scan = _reader(server.endpoint, attempts=3).read(FRONT)
    assert server.count(TEXTRACT_ANALYZE_ID) == 2
    assert scan.readable and scan.value("LAST_NAME") == "DURAND-SMITH"


def test_throttling_beyond_the_bound_raises_for_the_task_layer(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], error("ThrottlingException"))
    with pytest.raises(AwsEngineError) as info:
        _reader(server.endpoint, attempts=2).read(FRONT)
    assert info.value.code == "ThrottlingException"
    assert server.count(TEXTRACT_ANALYZE_ID) == 2  # bounded: exactly max_attempts
    # Not a ValueError: the Prefect tasks retry it (tasks.pipeline.BAD_INPUT excludes those).
    assert not isinstance(info.value, ValueError)


def test_server_error_is_retried_then_raised(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], error("InternalServerError"))
    with pytest.raises(AwsEngineError, match="InternalServerError"):
        _reader(server.endpoint, attempts=2).read(FRONT)
    assert server.count(TEXTRACT_ANALYZE_ID) == 2


@pytest.mark.parametrize("code", ["InvalidParameterException", "UnsupportedDocumentException"])
def test_input_textract_rejects_is_unreadable(server: ReplayServer, code: str) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], error(code))
    scan = _reader(server.endpoint).read(FRONT)
    assert not scan.readable
    (finding,) = scan.findings
    assert finding.reason is Reason.DOCUMENT_UNREADABLE and code in finding.detail
    assert server.count(TEXTRACT_ANALYZE_ID) == 1  # not retried


def test_no_fields_found_is_unreadable(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], saved("analyze_id_no_fields"))
    scan = _reader(server.endpoint).read(FRONT)
    assert not scan.readable and scan.fields == {}


def test_bad_bytes_never_reach_textract(server: ReplayServer) -> None:
    scan = _reader(server.endpoint).read(b"GIF89a not really")
    assert not scan.readable and scan.findings[0].detail.startswith("front:")
    assert server.count(TEXTRACT_ANALYZE_ID) == 0


def test_access_denied_is_engine_unavailable(server: ReplayServer) -> None:
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], error("AccessDeniedException"))
    with pytest.raises(EngineUnavailable, match="AccessDeniedException"):
        _reader(server.endpoint).read(FRONT)


def test_dead_endpoint_raises_after_bounded_retries() -> None:
    reader = _reader(aws_replay.dead_endpoint(), attempts=2)
    with pytest.raises(AwsEngineError) as info:
        reader.read(FRONT)
    assert info.value.code == "EndpointConnectionError"


def test_fields_merge_across_pages_by_confidence() -> None:
    def page(number: str, confidence: float) -> dict[str, Any]:
        field = {
            "Type": {"Text": "DOCUMENT_NUMBER"},
            "ValueDetection": {"Text": number, "Confidence": confidence},
        }
        return {"IdentityDocumentFields": [field]}

    fields = fields_from_analyze_id({"IdentityDocuments": [page("A1", 60.0), page("A2", 90.0)]})
    assert fields["DOCUMENT_NUMBER"].value == "A2"


def test_date_textract_could_not_normalise_is_not_a_value() -> None:
    field = {
        "Type": {"Text": "DATE_OF_BIRTH"},
        "ValueDetection": {
            "Text": "31/02/1990",
            "NormalizedValue": {"Value": "1990-02-31T00:00:00", "ValueType": "Date"},
            "Confidence": 80.0,
        },
    }
    fields = fields_from_analyze_id({"IdentityDocuments": [{"IdentityDocumentFields": [field]}]})
    assert fields["DATE_OF_BIRTH"].text == "31/02/1990" and fields["DATE_OF_BIRTH"].value == ""


# --- Rekognition CompareFaces -----------------------------------------------------------


def test_compare_faces_request_and_mapping(server: ReplayServer) -> None:
    server.add(REKOGNITION_COMPARE_FACES, [SELFIE, DOCUMENT], saved("compare_faces_same_person"))
    result = _matcher(server.endpoint).compare(SELFIE, DOCUMENT)
    (body,) = aws_replay.iter_requests(server, REKOGNITION_COMPARE_FACES)
    # Threshold 0: the score always comes back; our own threshold decides.
    assert body["SimilarityThreshold"] == 0
    assert set(body) == {"SourceImage", "TargetImage", "SimilarityThreshold"}
    assert result.similarity == pytest.approx(98.42)
    assert result.distance is None
    assert result.source_confidence == pytest.approx(99.99)
    assert result.target_confidence == pytest.approx(99.97)
    assert result.target_bounding_box == pytest.approx((0.3550, 0.2103, 0.2841, 0.4120))
    assert result.source_face_count is None and result.target_face_count == 1
    assert json.loads(json.dumps(result.as_dict()))["target_bounding_box"]["Left"] == 0.355


def test_best_of_several_document_faces(server: ReplayServer) -> None:
    server.add(
        REKOGNITION_COMPARE_FACES, [SELFIE, DOCUMENT], saved("compare_faces_two_document_faces")
    )
    result = _matcher(server.endpoint).compare(SELFIE, DOCUMENT)
    assert result.similarity == pytest.approx(97.80)
    assert result.target_face_count == 2
    assert result.target_bounding_box is not None and result.target_bounding_box[0] == 0.2310


def test_compare_faces_throttling_is_retried(server: ReplayServer) -> None:
    server.add(
        REKOGNITION_COMPARE_FACES,
        [SELFIE, DOCUMENT],
        error("ThrottlingException"),
        error("ProvisionedThroughputExceededException"),
        saved("compare_faces_identical"),
    )
    result = _matcher(server.endpoint, attempts=3).compare(SELFIE, DOCUMENT)
    assert server.count(REKOGNITION_COMPARE_FACES) == 3
    assert result.similarity == pytest.approx(99.99)


def test_compare_faces_throttled_beyond_bound(server: ReplayServer) -> None:
    server.add(
        REKOGNITION_COMPARE_FACES,
        [SELFIE, DOCUMENT],
        error("ProvisionedThroughputExceededException"),
    )
    with pytest.raises(AwsEngineError, match="ProvisionedThroughputExceededException"):
        _matcher(server.endpoint, attempts=1).compare(SELFIE, DOCUMENT)
    assert server.count(REKOGNITION_COMPARE_FACES) == 1


def test_invalid_parameter_is_face_not_found(server: ReplayServer) -> None:
    server.add(REKOGNITION_COMPARE_FACES, [SELFIE, DOCUMENT], error("InvalidParameterException"))
    result = _matcher(server.endpoint).compare(SELFIE, DOCUMENT)
    assert result.similarity is None
    (finding,) = result.findings
    assert finding.reason is Reason.FACE_NOT_FOUND and "selfie or the document" in finding.detail


def test_service_side_image_rejection_is_an_engine_error_finding(server: ReplayServer) -> None:
    server.add(REKOGNITION_COMPARE_FACES, [SELFIE, DOCUMENT], error("InvalidImageFormatException"))
    result = _matcher(server.endpoint).compare(SELFIE, DOCUMENT)
    assert [f.reason for f in result.findings] == [Reason.ENGINE_ERROR]


def test_local_checks_name_the_bad_side_without_calling_aws(server: ReplayServer) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (200, 200)).save(gif, "GIF")
    matcher = _matcher(server.endpoint)
    selfie_bad = matcher.compare(gif.getvalue(), DOCUMENT)
    assert [f.reason for f in selfie_bad.findings] == [Reason.SELFIE_UNREADABLE]
    assert "GIF" in selfie_bad.findings[0].detail
    document_bad = matcher.compare(SELFIE, b"\xff\xd8\xff truncated")
    assert [f.reason for f in document_bad.findings] == [Reason.FACE_NOT_FOUND]
    assert document_bad.findings[0].detail.startswith("document image unreadable")
    too_big = matcher.compare(SELFIE, b"\xff\xd8" + bytes(5_000_001))
    assert "MB limit" in too_big.findings[0].detail
    assert server.count(REKOGNITION_COMPARE_FACES) == 0


def test_unmatched_only_means_similarity_zero() -> None:
    response = {
        "SourceImageFace": {"Confidence": 99.0},
        "FaceMatches": [],
        "UnmatchedFaces": [{"Confidence": 98.0, "BoundingBox": {"Left": 0.1, "Top": 0.2}}],
    }
    result = comparison_from_compare_faces(response, engine="rekognition", engine_version="x")
    assert result.similarity == 0.0 and result.findings == () and result.target_face_count == 1


def test_rekognition_dead_endpoint() -> None:
    with pytest.raises(AwsEngineError):
        _matcher(aws_replay.dead_endpoint(), attempts=1).compare(SELFIE, DOCUMENT)


# --- wiring -------------------------------------------------------------------------------


def _no_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_wiring_builds_the_aws_engines(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kyc.wiring import build_document_reader, build_face_matcher

    _no_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = Settings(
        document_engine="textract",
        face_engine="rekognition",
        textract_endpoint_url=server.endpoint,
        rekognition_endpoint_url=server.endpoint,
    )
    reader = build_document_reader(settings)
    matcher = build_face_matcher(settings)
    assert isinstance(reader, TextractDocumentReader)
    assert isinstance(matcher, RekognitionFaceMatcher)
    server.add(TEXTRACT_ANALYZE_ID, [FRONT], saved("analyze_id_licence_front"))
    assert reader.read(FRONT).value("DOCUMENT_NUMBER") == "F5550123"


def test_wiring_without_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kyc.wiring import build_document_reader, build_face_matcher

    _no_aws_env(monkeypatch, tmp_path)
    with pytest.raises(EngineUnavailable, match="no AWS credentials"):
        build_document_reader(Settings(document_engine="textract"))
    with pytest.raises(EngineUnavailable, match="no AWS credentials"):
        build_face_matcher(Settings(face_engine="rekognition"))
    with pytest.raises(EngineUnavailable, match="KYC_AWS_REGION"):
        build_face_matcher(Settings(face_engine="rekognition", aws_region=""))


def test_oversize_images_are_reduced_to_fit(server: ReplayServer) -> None:
    import numpy as np

    from kyc.clients import aws
    from kyc.engines import face_rekognition

    # A 2000 x 1500 PNG of noise: about 9 MB, readable, over CompareFaces' 5 MB.
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (1500, 2000, 3), dtype=np.uint8)).save(buf, "PNG")
    big = buf.getvalue()
    assert len(big) > face_rekognition.MAX_BYTES
    fitted = aws.fit_image(big, max_bytes=face_rekognition.MAX_BYTES)
    assert len(fitted) <= face_rekognition.MAX_BYTES and fitted[:2] == b"\xff\xd8"
    server.add(REKOGNITION_COMPARE_FACES, [fitted, DOCUMENT], saved("compare_faces_same_person"))
    result = _matcher(server.endpoint).compare(big, DOCUMENT)
    assert result.similarity == pytest.approx(98.42)
    assert aws.fit_image(DOCUMENT, max_bytes=face_rekognition.MAX_BYTES) is DOCUMENT
