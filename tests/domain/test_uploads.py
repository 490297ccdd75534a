"""The intake API's rules without a server: sniffing, limits, digests, the token bucket."""

from __future__ import annotations

import pytest

from kyc.domain.landing import valid_application_id
from kyc.domain.uploads import (
    FAILED_TO_PROCESS,
    MAX_FORM_BYTES,
    PART_COUNTS,
    TokenBucket,
    UploadRefused,
    body_digest,
    body_limit,
    check_idempotency_key,
    check_part_name,
    check_pixels,
    check_required,
    new_application_id,
    part_limit,
    retry_after_seconds,
    sniff_image,
    upload_status,
)

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("data", "suffix"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpg"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    ],
)
def test_jpeg_and_png_by_magic_bytes(data: bytes, suffix: str) -> None:
    assert sniff_image(data, "selfie").value == suffix


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC/HEIF"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00", "HEIC/HEIF"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "HEIC/HEIF"),
        (b"%PDF-1.7\n", "PDF"),
        (b"GIF89a....", "not a JPEG or PNG"),
        (b"\x00\x00\x00\x18ftypmp42", "not a JPEG or PNG"),  # a video
        (b"\xff\xd8", "not a JPEG or PNG"),  # too short to be a JPEG
        (b"<svg xmlns=", "not a JPEG or PNG"),
    ],
)
def test_everything_else_is_415_naming_what_is_accepted(data: bytes, words: str) -> None:
    with pytest.raises(UploadRefused) as err:
        sniff_image(data, "id_document")
    assert err.value.status == 415
    assert err.value.code == "unsupported_type"
    assert err.value.message.startswith("id_document: ")
    assert words in err.value.message and "send JPEG or PNG" in err.value.message


def test_empty_file() -> None:
    with pytest.raises(UploadRefused) as err:
        sniff_image(b"", "selfie")
    assert (err.value.status, err.value.code) == (422, "empty_file")


def test_pixels() -> None:
    check_pixels(4000, 2500, "selfie", 10_000_000)
    with pytest.raises(UploadRefused) as err:
        check_pixels(4000, 2501, "selfie", 10_000_000)
    assert (err.value.status, err.value.code) == (413, "image_too_large")
    assert "4000x2501" in err.value.message and "10,000,000" in err.value.message


def test_size_limits() -> None:
    assert part_limit("application", 10 * MB) == MAX_FORM_BYTES
    assert part_limit("selfie", 10 * MB) == 10 * MB
    # 33 images at their limit plus the form: a body over that is refused unread.
    assert 33 * 10 * MB + MAX_FORM_BYTES < body_limit(10 * MB) < 34 * 10 * MB


def test_part_names_and_counts() -> None:
    for name, allowed in PART_COUNTS.items():
        for seen in range(allowed):
            check_part_name(name, seen)
        with pytest.raises(UploadRefused) as err:
            check_part_name(name, allowed)
        assert (err.value.status, err.value.code) == (422, "too_many_parts")
    assert PART_COUNTS["selfie_frames"] == 30
    with pytest.raises(UploadRefused) as err:
        check_part_name("passport_scan", 0)
    assert err.value.code == "unexpected_part" and "passport_scan" in err.value.message
    check_required(["application", "id_document", "selfie", "selfie_frames"])
    with pytest.raises(UploadRefused) as err:
        check_required(["application", "id_document_back"])
    assert err.value.message.endswith("id_document, selfie")


@pytest.mark.parametrize("value", ["", " x", "x" * 256, "key\n", "clé"])
def test_bad_idempotency_keys(value: str) -> None:
    with pytest.raises(UploadRefused) as err:
        check_idempotency_key(value)
    assert err.value.status == 422


def test_good_idempotency_keys() -> None:
    assert check_idempotency_key("8e0a1d2c-0f8b-4a57-9a0e-6c0f3c4f2b11") == (
        "8e0a1d2c-0f8b-4a57-9a0e-6c0f3c4f2b11"
    )
    assert check_idempotency_key("x" * 255)


def test_body_digest_is_canonical() -> None:
    parts = [("application", b"{}"), ("id_document", b"A"), ("selfie", b"B")]
    digest = body_digest(parts)
    # Part order between fields does not matter (a client library may reorder them).
    assert body_digest(list(reversed(parts))) == digest
    # Content, names and frame order do.
    assert body_digest([("application", b"{} "), *parts[1:]]) != digest
    assert body_digest([parts[0], ("id_document_back", b"A"), parts[2]]) != digest
    frames = [("selfie_frames", b"1"), ("selfie_frames", b"2")]
    assert body_digest(parts + frames) != body_digest(parts + frames[::-1])
    # Lengths delimit the parts: bytes cannot move between neighbours unnoticed.
    assert body_digest([("selfie", b"AB"), ("selfie_frames", b"C")]) != body_digest(
        [("selfie", b"A"), ("selfie_frames", b"BC")]
    )


def test_generated_ids_name_a_landing_folder() -> None:
    ids = {new_application_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(valid_application_id(i) and i.startswith("app-") for i in ids)


@pytest.mark.parametrize("value", ["..", ".", "a/b", "", "x" * 129, "%2e%2e", "a\n", "é"])
def test_ids_that_are_not_one_safe_segment(value: str) -> None:
    assert not valid_application_id(value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(60, clock=clock)
    assert [bucket.take("a") for _ in range(60)] == [0.0] * 60  # the burst
    wait = bucket.take("a")
    assert wait == pytest.approx(1.0)
    assert retry_after_seconds(wait) == 1
    assert bucket.take("b") == 0.0  # keys do not share a bucket
    clock.now += 0.5
    assert bucket.take("a") == pytest.approx(0.5)  # half a token back; nothing taken
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    clock.now += 3600  # refills to the burst, not beyond
    assert [bucket.take("a") for _ in range(61)].count(0.0) == 60


def test_token_bucket_forgets_idle_keys() -> None:
    clock = Clock()
    bucket = TokenBucket(1, clock=clock, max_keys=2)
    assert bucket.take("a") == 0.0
    assert bucket.take("b") == 0.0
    assert bucket.take("c") == 0.0  # "a", the longest idle, is forgotten
    assert bucket.take("a") == 0.0
    assert bucket.take("c") > 0
    with pytest.raises(ValueError):
        TokenBucket(0)
    assert retry_after_seconds(0.01) == 1 and retry_after_seconds(2.2) == 3


@pytest.mark.parametrize(
    ("document", "decided", "dead", "expected"),
    [
        ("NEW", False, False, "RECEIVED"),
        (None, False, False, "RECEIVED"),
        ("OCR_DONE", False, False, "PROCESSING"),
        ("QUALITY_DONE", False, False, "PROCESSING"),
        ("DECIDED", True, False, "DECIDED"),
        ("DECIDED", True, True, "DECIDED"),
        ("NEW", False, True, FAILED_TO_PROCESS),
        ("ERROR", False, False, FAILED_TO_PROCESS),
    ],
)
def test_upload_status(document: str | None, decided: bool, dead: bool, expected: str) -> None:
    assert upload_status(document, decided=decided, dead_letter=dead) == expected


def test_presigned_upload_status_before_its_objects_land() -> None:
    assert upload_status(None, decided=False, dead_letter=False, registered=False) == (
        "AWAITING_UPLOAD"
    )
    # e.g. it stayed incomplete past KYC_INCOMPLETE_TIMEOUT_SECONDS
    assert upload_status(None, decided=False, dead_letter=True, registered=False) == (
        FAILED_TO_PROCESS
    )


def test_refusal_body() -> None:
    refused = UploadRefused(422, "invalid_application", "bad", problems=[{"path": "a"}])
    assert refused.as_json() == {
        "error": "invalid_application",
        "detail": "bad",
        "problems": [{"path": "a"}],
    }
    assert UploadRefused(413, "file_too_large", "big").as_json() == {
        "error": "file_too_large",
        "detail": "big",
    }
