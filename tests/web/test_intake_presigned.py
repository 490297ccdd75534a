"""Presigned S3 uploads (``POST /v1/uploads``) on an S3 landing: moto's S3 server on loopback.

The app runs under a real uvicorn with ``KYC_LANDING=s3://<bucket>/landing/``. The
client PUTs every object to its URL with httpx, the form last; then the application
is decided the way the S3 → SQS bridge's per-application flow decides it
(``process_application`` on the complete bundle), and its status is read back.

Not checked here: that S3 refuses a PUT whose length or type differs from the
signed ones. moto does not verify signatures; the tests check that both headers
are signed into each URL (SigV4 ``X-Amz-SignedHeaders``), which is what AWS enforces.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kyc import runtime
from kyc.services import intake
from tests.fixtures.db import DatabaseFactory
from tests.fixtures.s3 import REGION, fake_aws
from tests.services.conftest import service_settings
from tests.web.conftest import INTAKE_OVERRIDES, IntakeServer, jpeg, png, serve_intake
from tests.web.test_intake_api import STATUS_KEYS, form

pytestmark = pytest.mark.db


@pytest.fixture(scope="module")
def s3_server(
    pg_server: DatabaseFactory, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[IntakeServer, Any]]:
    """The intake app on an S3 landing (a fresh moto bucket), decisions left to the event path."""
    import boto3

    with pytest.MonkeyPatch.context() as mp:
        fake_aws(mp, tmp_path_factory)
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
        bucket = f"kyc-intake-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        # SSE-KMS by default, as deployments/aws makes it (the store refuses a bucket without).
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
        settings = service_settings(
            pg_server.create("kyc_web_s3"),
            f"s3://{bucket}/landing/",
            **(INTAKE_OVERRIDES | {"intake_process": "event", "s3_endpoint_url": moto_endpoint}),
        )
        with serve_intake(settings) as server:
            yield server, (s3, bucket)


def presign(server: IntakeServer, key: str, body: Any) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/uploads", json=body, headers={"Authorization": f"Bearer {key}"}
    )


def declared(data: bytes, content_type: str = "image/jpeg") -> dict[str, Any]:
    return {"content_type": content_type, "bytes": len(data)}


def test_presigned_upload_lands_and_is_decided(s3_server: tuple[IntakeServer, Any]) -> None:
    server, (s3, bucket) = s3_server
    key = server.new_key("large client")
    front, back, selfie, frames = jpeg(), png(), jpeg(colour="white"), [jpeg(), png()]
    files = {
        "id_document": declared(front),
        "id_document_back": declared(back, "image/png"),
        "selfie": declared(selfie),
        "selfie_frames": [declared(frames[0]), declared(frames[1], "image/png")],
    }
    r = presign(server, key, {"application": form(), "files": files})
    assert r.status_code == 201, r.text
    answer = r.json()
    app_id = answer["application_id"]
    assert answer["status"] == "AWAITING_UPLOAD"
    assert answer["status_url"] == f"/v1/applications/{app_id}" == r.headers["location"]
    base = f"incoming/{app_id}/"
    assert [u["key"] for u in answer["uploads"]] == [
        base + "id_document.jpg",
        base + "id_document_back.png",
        base + "selfie.jpg",
        base + "selfie_frames/0.jpg",
        base + "selfie_frames/1.png",
        base + "application.json",  # last: the event path waits for it
    ]
    for upload in answer["uploads"]:
        signed = parse_qs(urlsplit(upload["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert {"content-length", "content-type"} <= set(signed)
        assert f"/{bucket}/landing/{upload['key']}" in upload["url"]
    # Nothing has landed yet: the id is reserved for this key only.
    status = httpx.get(
        f"{server.url}{answer['status_url']}", headers={"Authorization": f"Bearer {key}"}
    )
    assert status.json()["status"] == "AWAITING_UPLOAD"
    assert set(status.json()) == STATUS_KEYS
    other = server.new_key("someone else")
    assert (
        httpx.get(
            f"{server.url}{answer['status_url']}", headers={"Authorization": f"Bearer {other}"}
        ).status_code
        == 404
    )

    contents = [front, back, selfie, *frames, answer["uploads"][-1]["body"].encode()]
    for upload, data in zip(answer["uploads"], contents, strict=True):
        put = httpx.put(upload["url"], content=data, headers=upload["headers"])
        assert put.status_code == 200, put.text
    stored = s3.get_object(Bucket=bucket, Key=f"landing/{base}id_document_back.png")["Body"].read()
    assert stored == back

    # What the S3 → SQS bridge's per-application flow does with the last object's event.
    from flows.pipeline import process_application
    from flows.runner import InlineRunner

    landing = server.settings.landing
    found = intake.discover(server.rt, landing, app_id)
    (bundle,) = found.complete
    assert len(bundle.frames) == 2 and bundle.back is not None
    runner = InlineRunner()
    try:
        with runtime.using(server.rt):
            outcome = process_application(runner, landing, bundle)
    finally:
        runner.close()
    assert outcome.status.value == "DECIDED", outcome
    decided = httpx.get(
        f"{server.url}{answer['status_url']}", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert decided["status"] == "DECIDED"
    assert (decided["decision"], decided["reasons"]) == (outcome.decision, list(outcome.reasons))


def test_refusals(s3_server: tuple[IntakeServer, Any]) -> None:
    server, _ = s3_server
    key = server.new_key("careless client")
    files = {"id_document": declared(jpeg()), "selfie": declared(jpeg())}

    def refused(body: Any, status: int, code: str) -> dict[str, Any]:
        r = presign(server, key, body)
        assert (r.status_code, r.json()["error"]) == (status, code), r.text
        return r.json()

    big = dict(files, selfie={"content_type": "image/jpeg", "bytes": 11 * 1024 * 1024})
    assert (
        "selfie" in refused({"application": form(), "files": big}, 413, "file_too_large")["detail"]
    )
    heic = dict(files, selfie={"content_type": "image/heic", "bytes": 10})
    assert (
        "JPEG or PNG"
        in refused({"application": form(), "files": heic}, 415, "unsupported_type")["detail"]
    )
    refused(
        {"application": form(), "files": {"id_document": files["id_document"]}}, 422, "missing_part"
    )
    frames = dict(files, selfie_frames=[declared(jpeg())] * 31)
    refused({"application": form(), "files": frames}, 422, "too_many_parts")
    refused(
        {"application": form(), "files": dict(files, passport=declared(jpeg()))},
        422,
        "unexpected_part",
    )
    bad = refused(
        {"application": form(first_name=["Secretia"]), "files": files}, 422, "invalid_application"
    )
    assert bad["problems"] == [{"path": "first_name", "rule": "type", "detail": "must be string"}]
    refused({"files": files}, 422, "invalid_request")
    refused(
        {
            "application": form(),
            "files": dict(files, selfie={"content_type": "image/jpeg", "bytes": "10"}),
        },
        422,
        "invalid_request",
    )
    r = httpx.post(
        f"{server.url}/v1/uploads", content=b"{nope", headers={"Authorization": f"Bearer {key}"}
    )
    assert (r.status_code, r.json()["error"]) == (422, "invalid_request")
    # An id is reserved once: asking again (or uploading it by multipart) is a conflict.
    assert (
        presign(server, key, {"application": form("presigned-1"), "files": files}).status_code
        == 201
    )
    refused({"application": form("presigned-1"), "files": files}, 409, "application_exists")
    parts = [
        ("application", ("a.json", json.dumps(form("presigned-1")), "application/json")),
        ("id_document", ("f.jpg", jpeg(), "image/jpeg")),
        ("selfie", ("s.jpg", jpeg(), "image/jpeg")),
    ]
    r = httpx.post(
        f"{server.url}/v1/applications", files=parts, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 409
    # Keys are checked as for every intake route.
    assert httpx.post(f"{server.url}/v1/uploads", json={}).status_code == 401
